"""Clock, bus, deterministic ids and the supervisor: what every engine component shares."""
