"""The live campaign's document: the five targets with their verdict, and what happened on the way.

Times are seconds from the campaign's start (wall clock). Same seed, same fault schedule; the figures
of two runs differ a little because the bot runs on the wall clock (what is in flight when a fault
lands depends on the machine's load), which the document says of itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..report import Stretch
from .targets import RESTART_RULE

if TYPE_CHECKING:
    from .campaign import LiveCampaign

DETERMINISM = ("same seed, same fault schedule, market walk and entry requests; the bot runs on the wall clock, "
               "so what a fault meets in flight, and hence the exact figures, vary from run to run")
WORST_SHOWN = 5


def live_report(campaign: LiveCampaign, *, first_ready_s: float | None, unknown: list[dict[str, Any]],
                server_counts: dict[str, Any], exit_code: int | None) -> dict[str, Any]:
    obs, inj, targets = campaign.observer, campaign.injector, campaign.targets
    rules = obs.rules
    duplicates = obs.duplicates()
    longest = rules.longest
    figures = {"longest_unprotected_s": longest.seconds if longest else 0.0,
               "duplicate_orders": sum(duplicates.values()), "unknown_positions": len(unknown),
               "bans": obs.limits.bans, "peak_weight": obs.limits.peak_weight}
    verdict = targets.verdict(figures)
    return {
        "campaign": "live", "seed": campaign.config.seed, "duration_s": campaign.config.duration_s,
        "started_at": _iso(rules.start_ms),
        "symbols": list(campaign.server.sim.state.instruments),
        "passed": all(v["met"] for v in verdict.values()), "targets": verdict, **figures,
        "unprotected_limit_s": targets.unprotected_limit_s, "unprotected_limit": targets.explain(),
        "restart_rule": RESTART_RULE,
        "monitor_interval_s": targets.monitor_interval_s, "one_reconnect_s": targets.reconnect_s,
        "weight_limit": targets.weight_limit, "peak_weight_pct": round(100 * obs.limits.peak_weight
                                                                       / targets.weight_limit, 1),
        "duplicates_by_kind": duplicates, "unknown": unknown,
        "positions_opened": rules.opened, "stop_outs": obs.stop_outs(),
        "entries": dict(sorted(campaign.entries.answers.items())),
        "faults_injected": dict(sorted(inj.injected.items())), "faults_skipped": dict(sorted(inj.skipped.items())),
        "faults_server_counted": server_counts, "manual_cancels": inj.manual_cancels,
        "bot_restarts": len(inj.restarts), "restarts": [asdict(r) for r in inj.restarts],
        "bot_crashes": sum(1 for r in inj.restarts if r.cause.startswith("crash")),
        "bot_start_s": None if first_ready_s is None else round(first_ready_s, 3),
        "responses_429": obs.limits.refused_429, "health_samples": dict(sorted(obs.health.items())),
        "unhealthy_samples": obs.unhealthy,
        "worst_unprotected": [_stretch(s, rules.start_ms) for s in _worst(rules.stretches)],
        "fault_log": inj.log, "market_steps": campaign.market.steps, "market_gaps": campaign.market.gaps,
        "observations": obs.looks, "campaign_errors": campaign.errors, "bot_exit_code": exit_code,
        "bot_log": str(campaign.bot.log_path) if campaign.config.workdir is not None else None,
        "determinism": DETERMINISM,
    }


def _iso(ms: int) -> str:
    """UTC wall time, as the bot's log writes it (to find a stretch's cause there)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")


def _worst(stretches: list[Stretch]) -> list[Stretch]:
    return sorted(stretches, key=lambda s: -s.seconds)[:WORST_SHOWN]


def _stretch(stretch: Stretch, start_ms: int) -> dict[str, Any]:
    return {"symbol": stretch.symbol, "from_s": round((stretch.from_ms - start_ms) / 1000, 3),
            "to_s": round((stretch.to_ms - start_ms) / 1000, 3), "seconds": stretch.seconds,
            "not_counted_s": stretch.excluded_ms / 1000}
