"""The time buckets the platform keeps for the console: per minute, queue and type, how many jobs
were created and how many finished (completed, failed, cancelled), with histograms of their wait
and run times.

Only `console.rollup` writes these rows, from the jobs table; the overview reads them
(`console.selectors.buckets`) instead of counting the jobs table per viewer. A minute's rows are
replaced whole each time it is computed, so computing one again is harmless.
"""
from __future__ import annotations

from django.db import models

from console import histograms


class JobMinute(models.Model):
    """What happened to the jobs of one (queue, type) in one minute (UTC, truncated)."""

    minute = models.DateTimeField()
    queue = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    # jobs created in this minute (by created_at)
    created = models.PositiveIntegerField(default=0)
    # jobs that reached a final status in this minute (by completed_at)
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    # of the jobs finished in this minute that ran: their last attempt's wait since it was due
    # (started_at - max(queued_at, run_at)) and their run time (actual_duration), as counts per
    # bucket of `console.histograms` (len(BOUNDS) + 1 counts)
    wait_counts = models.JSONField(default=histograms.empty)
    run_counts = models.JSONField(default=histograms.empty)

    class Meta:
        ordering = ["minute", "queue", "type"]
        constraints = [
            # its leading column serves the overview's range read and the rollup's replace
            models.UniqueConstraint(fields=["minute", "queue", "type"], name="console_jobminute_unique"),
        ]

    def __str__(self) -> str:
        return (f"{self.minute:%Y-%m-%d %H:%M} {self.queue}/{self.type}: "
                f"{self.completed} completed, {self.failed} failed")


class RollupMark(models.Model):
    """How far the rollup has computed whole minutes: every minute before `through` was computed
    after it ended. One row (name "minutes"); locked while a pass runs, so that two passes at once
    (two beats, a slow pass) take turns instead of replacing each other's rows."""

    name = models.CharField(max_length=32, unique=True)
    through = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rollup {self.name} through {self.through}"
