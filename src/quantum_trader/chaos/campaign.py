"""The chaos campaign: N seeded scenarios of the real bot under injected faults, and one verdict.

Each scenario (chaos_scenario.py) runs the bot's own risk, execution, trade tracker, monitor and kill
switch against the in-process simulator through a fault-injecting exchange (exchange/faults.py),
wrapped in the same `RetryingExchange` a live session uses, while an independent observer
(chaos_report.py) grades what the exchange actually held. The verdict is the issue's four targets:
no position unprotected for longer than two monitor intervals, no duplicate order, no position the
bot did not know about, no audit breach that a gap does not explain. Same N and seed, same report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .report import ScenarioResult, campaign_report
from .scenario import ChaosConfig, run_scenario

Progress = Callable[[int], None]


async def run_campaign_async(scenarios: int, seed: int, config: ChaosConfig | None = None, *,
                             progress: Progress | None = None) -> dict[str, Any]:
    if scenarios < 1:
        raise ValueError(f"--scenarios: {scenarios} must be at least 1")
    config = config or ChaosConfig()
    results: list[ScenarioResult] = []
    for index in range(scenarios):
        results.append(await run_scenario(index, seed, config))
        if progress is not None:
            progress(1)
    return campaign_report(results, scenarios=scenarios, seed=seed, monitor_interval_s=config.monitor_interval_s)


def run_campaign(scenarios: int, seed: int, config: ChaosConfig | None = None, *,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Run the campaign on a fresh event loop (the CLI's entry point)."""
    return asyncio.run(run_campaign_async(scenarios, seed, config, progress=progress))
