"""The console's settings, read at call time from Django's settings (config/settings.py reads
the environment), so that `override_settings` in tests applies.

    JOBS_CONSOLE_REFRESH_SECONDS   how long one shared reading of the overview serves every viewer
                                   and every web process (default 5; 0 computes per request)
"""
from __future__ import annotations

import math

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# How many whole minutes before the current one every rollup computes again: a job's
# completed_at is written before its transaction commits, so a slow commit can land in a minute
# that an earlier pass already counted.
RECOMPUTE_MINUTES = 3
# The most minutes one pass computes when catching up after the rollup did not run (workers
# down, a fresh install): each pass stays one bounded range scan of the completed_at index.
CATCH_UP_MINUTES = 60
# Buckets are kept for the overview's 24 hours and an hour's margin, then deleted by the rollup.
KEEP_HOURS = 25
# Each at-risk list and the schedules panel show at most this many rows (and say when there are more).
PANEL_LIMIT = 20
SCHEDULES_LIMIT = 50
# A type's p99 is trusted for "runs past their type's p99" once this many runs back it.
P99_MIN_RUNS = 20
# A schedule's tick this much past due is shown as late (its message is normally on time).
SCHEDULE_LATE_AFTER = 30.0


def _number(name: str, default: float, minimum: float) -> float:
    raw = getattr(settings, name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a number of seconds >= {minimum:g}")
    return value


def refresh_seconds() -> float:
    """JOBS_CONSOLE_REFRESH_SECONDS: the lifetime of the overview's shared reading."""
    return _number("JOBS_CONSOLE_REFRESH_SECONDS", 5.0, 0.0)
