"""What the time buckets say about the last hour and the last 24 hours: totals per queue and per
type, the throughput and failure series for the charts, and each type's wait and run percentiles.

One read of the 24 hours of `JobMinute` rows (the unique index's leading column, `minute`,
serves it), summed here in one pass. The 24 hours are the 1,440 minutes up to the current one;
the last hour its last 60.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from console import histograms
from console.models import JobMinute
from console.rollup import floor_minute

HOUR_SLOTS = 60  # one a minute
DAY_SLOT_MINUTES = 15
DAY_SLOTS = 24 * 60 // DAY_SLOT_MINUTES
COUNTS = ("created", "completed", "failed", "cancelled")


def _totals() -> dict[str, int]:
    return {f"{name}_{span}": 0 for name in COUNTS for span in ("1h", "24h")}


def bucket_summary(*, now: datetime | None = None) -> dict[str, Any]:
    """Totals, series and percentiles from the buckets, as plain JSON values (epoch seconds)."""
    now = now or timezone.now()
    current = floor_minute(now)
    day_start = current - timedelta(minutes=24 * 60 - 1)
    hour_start = current - timedelta(minutes=HOUR_SLOTS - 1)
    queues: dict[str, dict[str, int]] = defaultdict(_totals)
    types: dict[str, dict[str, Any]] = {}
    hour = {name: [0] * HOUR_SLOTS for name in ("completed", "failed")}
    day = {name: [0] * DAY_SLOTS for name in ("completed", "failed")}
    rows = JobMinute.objects.filter(minute__gte=day_start, minute__lte=current).values_list(
        "minute", "queue", "type", *COUNTS, "wait_counts", "run_counts")
    for minute, queue, job_type, *counts, wait_counts, run_counts in rows.iterator(chunk_size=2000):
        in_hour = minute >= hour_start
        kind = types.get(job_type)
        if kind is None:
            kind = types[job_type] = {**_totals(), "queues": set(), "wait": histograms.empty(),
                                      "run": histograms.empty()}
        kind["queues"].add(queue)
        for name, count in zip(COUNTS, counts):
            for totals in (queues[queue], kind):
                totals[f"{name}_24h"] += count
                if in_hour:
                    totals[f"{name}_1h"] += count
        histograms.add(kind["wait"], wait_counts)
        histograms.add(kind["run"], run_counts)
        minutes = int((minute - day_start).total_seconds() // 60)
        slot = minutes // DAY_SLOT_MINUTES
        day["completed"][slot] += counts[1]
        day["failed"][slot] += counts[2]
        if in_hour:
            index = int((minute - hour_start).total_seconds() // 60)
            hour["completed"][index] += counts[1]
            hour["failed"][index] += counts[2]
    return {
        "window": {"day_start": day_start.timestamp(), "hour_start": hour_start.timestamp(),
                   "end": (current + timedelta(minutes=1)).timestamp()},
        "queues": {queue: dict(totals) for queue, totals in sorted(queues.items())},
        "types": {job_type: _type_summary(kind) for job_type, kind in sorted(types.items())},
        "series": {
            "hour": {"step": 60, "t": [(hour_start + timedelta(minutes=i)).timestamp() for i in range(HOUR_SLOTS)],
                     **hour},
            "day": {"step": DAY_SLOT_MINUTES * 60,
                    "t": [(day_start + timedelta(minutes=i * DAY_SLOT_MINUTES)).timestamp() for i in range(DAY_SLOTS)],
                    **day},
        },
    }


def _type_summary(kind: dict[str, Any]) -> dict[str, Any]:
    summary = {key: value for key, value in kind.items() if key not in ("queues", "wait", "run")}
    summary["queues"] = sorted(kind["queues"])
    summary["runs_24h"] = sum(kind["run"])
    for name in ("wait", "run"):
        for label, found in histograms.percentiles(kind[name]).items():
            # [seconds, above the highest bound] or None: JSON has no tuples
            summary[f"{name}_{label}"] = [found.seconds, found.above] if found is not None else None
    return summary
