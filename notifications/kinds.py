"""The vocabulary of notifications: what a rule watches, where a message goes, and the states
of what is stored. A leaf: it imports nothing of the platform."""
from __future__ import annotations

from django.db import models

# Job types whose own failures never notify: a delivery that fails must not notify about itself.
OWN_TYPE_PREFIX = "notifications"
DELIVER_TYPE = "notifications.deliver"
EVALUATE_TYPE = "notifications:evaluate"
QUEUE = "notifications"


def is_own_type(job_type: str) -> bool:
    """A job type of this app (a delivery, the evaluation): invisible to the rules."""
    return job_type.startswith((OWN_TYPE_PREFIX + ".", OWN_TYPE_PREFIX + ":"))


class EventKind(models.TextChoices):
    JOB_FAILED = "job.failed", "A job failed for good"
    JOB_LOST = "job.lost", "A job lost its worker too often"
    SCHEDULE_MISSED = "schedule.missed", "A schedule missed its tick"
    QUEUE_BACKLOG = "queue.backlog", "A queue's backlog is over a threshold"
    QUEUE_NO_CONSUMER = "queue.no_consumer", "No live worker consumes a queue"
    FAILURE_RATE = "jobs.failure_rate", "The failure rate is over a threshold"


# Conditions are measured periodically; they fire when they start to hold and send a
# "resolved" message once when they stop. The others are single events.
CONDITIONS = frozenset({EventKind.SCHEDULE_MISSED, EventKind.QUEUE_BACKLOG, EventKind.QUEUE_NO_CONSUMER,
                        EventKind.FAILURE_RATE})
# what `threshold` means for each kind that uses one, and its bounds
THRESHOLDS: dict[str, tuple[str, float, float]] = {
    EventKind.JOB_LOST: ("times the job lost its worker", 1, 1000),
    EventKind.QUEUE_BACKLOG: ("due jobs waiting in the queue", 0, 10_000_000),
    EventKind.FAILURE_RATE: ("percent of the finished jobs that failed", 0, 100),
}
# the kinds that need a window (seconds)
WINDOWED = frozenset({EventKind.FAILURE_RATE})


class ChannelKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    SLACK = "slack", "Slack-compatible incoming webhook (Slack, Mattermost, Discord's /slack)"
    WEBHOOK = "webhook", "Webhook signed as Standard Webhooks says"


class EventState(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting for its first attempt"
    RETRYING = "retrying", "An attempt failed; another will follow"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed: no attempt left, or an answer that retrying cannot change"
    REFUSED = "refused", "Refused: the address is not allowed, or the channel is disabled"


# a delivery in one of these may be sent again by hand
RESENDABLE = frozenset({DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.REFUSED})


class AttemptOutcome(models.TextChoices):
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    REFUSED = "refused", "Refused"
