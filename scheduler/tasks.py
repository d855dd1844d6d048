"""Celery tasks of the scheduler: thin adapters onto `scheduler.services`.

Both run on the system queue (CELERY_TASK_ROUTES). A message delivered twice, or sent by two
beats, is harmless: firing claims the tick in the schedule's row first.
"""
from __future__ import annotations

from typing import Any

from celery import shared_task

from scheduler import services


@shared_task(name="scheduler.fire_schedule", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def fire_schedule(schedule_id: Any) -> str | None:
    """Beat's message for one schedule: fire its due tick, if this message is the one that claims it."""
    return services.schedule_fire(schedule_id=schedule_id).outcome


@shared_task(name="scheduler.fire_overdue_schedules", ignore_result=True)
def fire_overdue_schedules() -> int:
    """The safety net: fire the schedules whose tick passed without beat's message."""
    return services.schedules_fire_overdue()
