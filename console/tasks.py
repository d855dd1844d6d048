"""Celery tasks of the console: thin adapters onto `console.rollup`.

`console.rollup_minutes` is sent by the system schedule `console:rollup-minutes` every 15
seconds, on the system queue (the schedule's PeriodicTask names it). A pass sent twice (two
beats) or late is harmless: each pass replaces the rows of the minutes it computes.
"""
from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError, connection

from console.rollup import rollup_minutes as rollup

logger = logging.getLogger("conveyor.console")


@shared_task(name="console.rollup_minutes", ignore_result=True)
def rollup_minutes() -> int:
    """Compute the time buckets of the last minutes (and catch up, after a pause); the rows written."""
    try:
        result = rollup()
    except DatabaseError as exc:
        # one warning line per tick while the database is away; the next pass catches up
        try:
            connection.close()  # a broken connection must not serve the next tick
        except DatabaseError:
            pass
        logger.warning("console rollup skipped this tick: the database is unavailable (%s)", exc)
        return 0
    logger.debug("console rollup: %s row(s) for %s .. %s, %s old row(s) deleted",
                 result.rows, result.start, result.end, result.deleted)
    return result.rows
