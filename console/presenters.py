"""How the console writes numbers, times and links: one place, so that every page reads alike.

Links to the job list go through `job_list_url`, which names the list's query parameters once
(status, type, queue, and the time range created__gte / created__lt as ISO 8601 in UTC).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from jobs.presenters import format_duration


def seconds_text(seconds: float | None) -> str:
    """A duration for a person: 0.25s, 3.0s, 4m05s, 2h10m; '-' for none."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return format_duration(seconds)


def quantile_text(found: list[Any] | None) -> str:
    """A percentile as the buckets give it: [seconds, above the highest bound] or None."""
    if not found:
        return "-"
    seconds, above = found
    return f"> {seconds_text(seconds)}" if above else seconds_text(seconds)


def moment_iso(timestamp: float | None) -> str:
    """Epoch seconds as ISO 8601 in UTC (Z); '' for none."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def moment_text(timestamp: float | None) -> str:
    """Epoch seconds as 'YYYY-MM-DD HH:MM:SS UTC'; '-' for none."""
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age_text(timestamp: float | None, now: float) -> str:
    """How long ago (or how far ahead) an instant is: '12s ago', 'in 4m00s'."""
    if timestamp is None:
        return "-"
    delta = now - timestamp
    return f"{seconds_text(delta)} ago" if delta >= 0 else f"in {seconds_text(-delta)}"


def job_url(job_id: str) -> str:
    return reverse("admin:jobs_job_change", args=[job_id])


def job_list_url(**filters: Any) -> str:
    """The admin's job list filtered by `filters` (None values left out); `created__gte` and
    `created__lt` take epoch seconds or aware datetimes and are written as ISO 8601 in UTC."""
    params: dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if name in ("created__gte", "created__lt"):
            value = moment_iso(value.timestamp() if isinstance(value, datetime) else float(value))
        params[name] = str(value)
    base = reverse("admin:jobs_job_changelist")
    return f"{base}?{urlencode(params)}" if params else base


def schedule_url(kind: str, schedule_id: int) -> str:
    name = "systemscheduledjob" if kind == "system" else "userscheduledjob"
    return reverse(f"admin:scheduler_{name}_change", args=[schedule_id])
