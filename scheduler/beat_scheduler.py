"""The project's beat scheduler: django-celery-beat's DatabaseScheduler, whose ticks say that
beat is alive.

    celery -A config beat -S scheduler.beat_scheduler:BeatScheduler

After a tick, at most once every JOBS_LIVENESS_INTERVAL seconds, it records the tick in Redis
(`telemetry.liveness.record_beat_tick`: /metrics and `manage.py liveness beat --redis`, from
any host), touches its liveness file (`manage.py liveness beat`, the probe of its own host)
and, under a systemd unit with a watchdog, notifies it. None of this may stop beat: a
failure is logged and tried again at the next tick. beat ticks at least every five seconds
(DatabaseScheduler's longest sleep), so a record older than JOBS_LIVENESS_MAX_AGE means that
beat is stuck or gone.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from django_celery_beat.schedulers import DatabaseScheduler

from telemetry import liveness

logger = logging.getLogger("conveyor.scheduler")


class BeatScheduler(DatabaseScheduler):
    """DatabaseScheduler, plus the liveness of beat (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._liveness_recorded_at: float | None = None
        self._redis_failing = False
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval = super().tick(*args, **kwargs)
        now = time.monotonic()
        if self._liveness_recorded_at is None or now - self._liveness_recorded_at >= liveness.interval():
            self._liveness_recorded_at = now
            self.record_liveness()
        return interval

    def record_liveness(self) -> None:
        """Touch beat's liveness file and record the tick in Redis; a failure is logged (once
        per Redis outage), never raised."""
        try:
            liveness.touch(liveness.beat_file())
        except OSError as exc:
            logger.warning("beat: liveness file not touched (%s)", exc)
        try:
            liveness.notify_watchdog()
        except OSError as exc:
            logger.warning("beat: systemd's watchdog not notified (%s)", exc)
        try:
            liveness.record_beat_tick()
        except Exception as exc:  # Redis away: beat goes on, and its sends wait for Redis too
            if not self._redis_failing:
                logger.warning("beat: its ticks are not recorded in Redis until it answers (%s)", exc)
            self._redis_failing = True
            return
        if self._redis_failing:
            logger.info("beat: its ticks are recorded in Redis again")
        self._redis_failing = False
