"""The platform's bookkeeping rows beside the jobs: delivery marks for the sweeper, quota locks."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from jobs.models.tenancy import Organization


class DeliveryMark(models.Model):
    """How far workers have taken the messages of one queue at one priority: the dispatch
    time of the newest message a worker claimed (or of a probe it saw).

    Redis hands out each (queue, priority) list in the order it was filled, so a queued job
    whose message went out well before this mark and was never claimed has lost its message
    (`jobs.services.sweeper`). Workers raise the mark at most every heartbeat interval; the sweeper
    sends a probe through a quiet queue to raise it there.
    """

    queue = models.CharField(max_length=100)
    priority = models.PositiveSmallIntegerField()
    # NULL until a worker took a message (a probe may be out before that)
    delivered_through = models.DateTimeField(null=True, blank=True)
    probe_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue", "priority"], name="delivery_mark_unique_queue")]

    def __str__(self) -> str:
        return f"{self.queue} priority {self.priority}: through {self.delivered_through:%Y-%m-%d %H:%M:%S}"


class QuotaLock(models.Model):
    """One row per quota scope (a user, alone or in one organization), locked with SELECT ...
    FOR UPDATE while a job is counted against the quota and created, so that two requests at
    once cannot both take the last unit. It holds no count: the Job rows are the count."""

    scope = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+")

    def __str__(self) -> str:
        return self.scope
