"""What notifications store: channels and rules (managed in the admin and the API), the state
of each condition a rule watches, the events waiting for their message, and every delivery
with its attempts.

Only `notifications.services` writes these rows; read through `notifications.selectors`.

1. A Rule watches one kind of event within a scope (an organization, a project, a job type, a
   queue; each optional) and sends to its channels, at most one message per throttle window:
   events that arrive while the window is closed wait (`Event.sent_at` NULL) and go out
   together as one digest when it reopens.
2. A Condition row per rule and key ("queue:default", "schedule:12", "rate") remembers whether
   the condition held at the last evaluation, so that "firing" and "resolved" are each sent
   once per change.
3. A Delivery is one message to one channel, sent by a job of its own; each try is a
   DeliveryAttempt (number, time, response code, latency, error). Its id is the message id a
   webhook receives (`webhook-id: msg_<hex>`), the same on every retry and resend.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from notifications.kinds import AttemptOutcome, ChannelKind, DeliveryStatus, EventKind, EventState


class Channel(models.Model):
    """Where messages go. Scoped to an organization, or platform-wide (no organization: staff
    manage it, and only platform-wide rules use it)."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    organization = models.ForeignKey(
        "jobs.Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="notification_channels"
    )
    # e-mail: the recipients
    email_addresses = models.JSONField(default=list, blank=True)
    # slack and webhook: where to POST
    url = models.CharField(max_length=2000, blank=True, default="")
    # webhook: the signing secret (whsec_<base64>), and while a rotation lasts the previous one,
    # which still signs beside it until previous_secret_until
    secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ChannelKind.values), name="notification_channel_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display().split(' ')[0]} channel {self.name!r}"


class Rule(models.Model):
    """Which events to tell whom about, and how often at most."""

    name = models.CharField(max_length=100)
    organization = models.ForeignKey(
        "jobs.Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="notification_rules"
    )
    project = models.ForeignKey(
        "jobs.Project", on_delete=models.CASCADE, null=True, blank=True, related_name="notification_rules"
    )
    job_type = models.CharField(max_length=100, blank=True, default="", help_text="empty: every job type")
    queue = models.CharField(max_length=100, blank=True, default="", help_text="empty: every queue")
    event = models.CharField(max_length=32, choices=EventKind.choices)
    threshold = models.FloatField(null=True, blank=True,
                                  help_text="job.lost: times; queue.backlog: jobs; jobs.failure_rate: percent")
    window_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="jobs.failure_rate: the window")
    min_jobs = models.PositiveIntegerField(default=10, help_text="jobs.failure_rate: the fewest finished jobs "
                                                                 "in the window for the rate to count")
    channels = models.ManyToManyField(Channel, related_name="rules", blank=True)
    throttle_seconds = models.PositiveIntegerField(default=300, help_text="at most one message per this many "
                                                                          "seconds; 0: one per event")
    digest_size = models.PositiveSmallIntegerField(default=10, help_text="events listed in a digest; the rest "
                                                                         "are counted")
    enabled = models.BooleanField(default=True)
    # when the last message went out: the throttle window runs from here
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["event", "enabled"], name="notification_rule_event_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(event__in=EventKind.values), name="notification_rule_event_valid"),
            models.CheckConstraint(condition=Q(digest_size__gte=1), name="notification_rule_digest_positive"),
        ]

    def __str__(self) -> str:
        return f"rule {self.name!r} ({self.event})"


class Condition(models.Model):
    """Whether a rule's condition held for one key at the last evaluation."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="conditions")
    key = models.CharField(max_length=200)
    active = models.BooleanField(default=False)
    value = models.FloatField(default=0)
    # when it last changed between holding and not
    since = models.DateTimeField(default=timezone.now)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rule", "key"]
        constraints = [models.UniqueConstraint(fields=["rule", "key"], name="notification_condition_unique_key")]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.key}: {'firing' if self.active else 'clear'}"


class Event(models.Model):
    """One thing a rule saw; waits (sent_at NULL) until its rule's throttle window opens."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    state = models.CharField(max_length=16, choices=EventState.choices, default=EventState.FIRING)
    key = models.CharField(max_length=200)
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["occurred_at", "pk"]
        indexes = [
            # the events still waiting for a message, per rule, oldest first
            models.Index(fields=["rule", "occurred_at"], name="notification_event_pending_idx",
                         condition=Q(sent_at__isnull=True)),
            models.Index(fields=["occurred_at"], name="notification_event_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.state}: {self.summary}"


class Delivery(models.Model):
    """One message to one channel, carried by a job on the `notifications` queue."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rule = models.ForeignKey(Rule, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    subject = models.CharField(max_length=300)
    text = models.TextField()
    # the webhook body's `data`: stored so that every retry and resend sends the same bytes
    payload = models.JSONField(default=dict)
    event_type = models.CharField(max_length=64)
    event_count = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                            db_index=False)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["-created_at"], name="notification_delivery_time_idx"),
            models.Index(fields=["status", "-created_at"], name="notification_delivery_st_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values),
                                   name="notification_delivery_status_valid"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.message_id} to {self.channel_id} ({self.status})"

    @property
    def message_id(self) -> str:
        """The id a webhook receives (`webhook-id`), the same on every retry."""
        return f"msg_{self.id.hex}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts", db_index=False)
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="notification_attempt_unique_number"),
        ]

    def __str__(self) -> str:
        code = f" {self.status_code}" if self.status_code else ""
        return f"attempt {self.number}: {self.outcome}{code}"
