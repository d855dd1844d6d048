"""The overview's shared reading: the time buckets' totals, series and percentiles, the at-risk
panel and the schedules panel, computed at most once per JOBS_CONSOLE_REFRESH_SECONDS for every
viewer and web process (`console.shared`).

The live parts (what is queued and running now, the oldest due job, the workers and their
queues, the broker's lengths) are the metrics' own shared gauge reading
(`observability.gauges.cached_reading`), not read again here.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from console import conf
from console.selectors.at_risk import at_risk
from console.selectors.buckets import bucket_summary
from console.selectors.schedules import schedules_panel
from console.shared import shared_reading
from telemetry import liveness

logger = logging.getLogger("conveyor.console")

CACHE_KEY = "conveyor:console:overview"


def run_p99(types: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each type's p99 run time in seconds, where enough runs back it and it is below the
    highest histogram bound (above it, "past the p99" cannot be told)."""
    found: dict[str, float] = {}
    for job_type, summary in types.items():
        p99 = summary.get("run_p99")
        if p99 is not None and not p99[1] and summary.get("runs_24h", 0) >= conf.P99_MIN_RUNS:
            found[job_type] = float(p99[0])
    return found


def compute_overview() -> dict[str, Any]:
    """One reading, as plain JSON values; a part that cannot be read is named in `errors`."""
    now = timezone.now()
    reading: dict[str, Any] = {"taken_at": time.time(), "errors": [], "buckets": None, "at_risk": None,
                               "schedules": None}
    try:
        beat_last_tick = liveness.last_beat_tick()
    except Exception as exc:  # Redis away: the schedules panel says so rather than guess
        logger.warning("console: beat's liveness could not be read (%s)", exc)
        beat_last_tick = None
        reading["errors"].append("redis")
    try:
        reading["buckets"] = bucket_summary(now=now)
        reading["at_risk"] = at_risk(run_p99=run_p99(reading["buckets"]["types"]), now=now)
        reading["schedules"] = schedules_panel(beat_last_tick=beat_last_tick, now=now)
    except DatabaseError as exc:
        logger.warning("console: the database could not be read (%s)", exc)
        reading["errors"].append("database")
    return reading


def cached_overview() -> dict[str, Any]:
    """The shared reading if it is fresh, else a new one (one computation at a time)."""
    return shared_reading(CACHE_KEY, conf.refresh_seconds(), compute_overview)
