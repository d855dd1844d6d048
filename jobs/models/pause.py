"""A pause of a queue or of a job type, as operators set it.

While a pause holds (no end time, or its end time is ahead), no job of that queue or type is
claimed: the claim's own statement checks it (`jobs.storage.queries.CLAIM`), so every worker on
every host obeys it from the next delivery on. A delivery that finds its job paused puts the
job back to waiting without a message (no attempt spent); the gates admit nothing and the
sweeper publishes nothing for a paused queue or type. Resuming deletes the row and publishes
the waiting jobs. Running jobs are never interrupted. The audit log keeps the history.
"""
from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class PauseKind(models.TextChoices):
    QUEUE = "queue", "queue"
    TYPE = "type", "job type"


class PauseQuerySet(models.QuerySet["Pause"]):
    def holding(self, now: datetime | None = None) -> PauseQuerySet:
        """The pauses in force at `now`: no end time, or one still ahead."""
        now = now or timezone.now()
        return self.filter(Q(until__isnull=True) | Q(until__gt=now))

    def ended(self, now: datetime | None = None) -> PauseQuerySet:
        return self.filter(until__lte=now or timezone.now())


class Pause(models.Model):
    kind = models.CharField(max_length=8, choices=PauseKind.choices)
    name = models.CharField(max_length=100)
    reason = models.TextField(blank=True)
    paused_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    # as typed when the pause was made: the user may be deleted later
    paused_by_name = models.CharField(max_length=150, blank=True)
    paused_at = models.DateTimeField(default=timezone.now)
    # NULL: until someone resumes it
    until = models.DateTimeField(null=True, blank=True)

    objects = PauseQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="pause_unique_kind_name")]
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        until = f" until {self.until:%Y-%m-%d %H:%M:%S %Z}" if self.until else ""
        return f"{self.get_kind_display()} {self.name} paused by {self.paused_by_name or 'system'}{until}"
