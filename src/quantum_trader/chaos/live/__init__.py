"""The live-path chaos campaign: the real bot as a subprocess, the simulator server in this process, faults
at the network (`quantum-trader chaos --live`)."""
