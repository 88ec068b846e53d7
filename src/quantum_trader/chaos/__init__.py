"""The chaos campaign: seeded scenarios of random entries on gapped paths with injected faults, judged by an
independent observer of the simulator. A test harness shipped as a command, so it sits above the runtime."""
