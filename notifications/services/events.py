"""Events become messages, at most one per rule per throttle window.

An event is stored, then, under a lock on its rule's row (so that two workers reporting at
once cannot both send):

  * the rule's window is open (no message yet, or the last one went out `throttle_seconds`
    ago or more): every waiting event of the rule goes out now, as one message;
  * the window is closed: the event waits. The evaluation (`notifications:evaluate`, every
    NOTIFICATIONS_EVALUATION_INTERVAL) sends what waits as one digest once the window
    reopens: the oldest `digest_size` events listed, the rest counted.

So a burst of 50 failures under a 5-minute throttle gives the first failure's message at once
and one digest of the other 49 when the window reopens, never 50 messages. A message is one
Delivery per enabled channel of the rule, each sent by a `notifications.deliver` job on the
`notifications` queue, published when this transaction commits: the request never runs
inside the job or the transaction that reported the event.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs import services as job_services
from notifications.kinds import DELIVER_TYPE, DeliveryStatus
from notifications.messages import Message, compose
from notifications.models import Delivery, Event, Rule

logger = logging.getLogger("conveyor.notifications")

MAX_SUMMARY = 500


def window_open(rule: Rule, now: datetime) -> bool:
    """Whether a message of this rule may go out now."""
    if rule.last_message_at is None or rule.throttle_seconds == 0:
        return True
    return now >= rule.last_message_at + timedelta(seconds=rule.throttle_seconds)


def event_record(*, rule_id: int, kind: str, state: str, key: str, summary: str,
                 details: dict[str, Any] | None = None, now: datetime | None = None) -> list[Delivery]:
    """Store one event of a rule; send it (with whatever waited) when the rule's window is
    open. Returns the deliveries made now (none while the window is closed)."""
    now = now or timezone.now()
    with transaction.atomic():
        rule = Rule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            return []  # deleted meanwhile: nobody to tell
        Event.objects.create(rule=rule, kind=kind, state=state, key=key[:200], summary=summary[:MAX_SUMMARY],
                             details=details or {}, occurred_at=now)
        return send_waiting(rule, now) if window_open(rule, now) else []


def send_waiting(rule: Rule, now: datetime) -> list[Delivery]:
    """Every waiting event of a locked rule, as one message to each of its enabled channels.
    The caller holds the rule's row lock and has checked the window."""
    waiting = Event.objects.filter(rule=rule, sent_at__isnull=True)
    listed = list(waiting.order_by("occurred_at", "pk")[: rule.digest_size])
    if not listed:
        return []
    # the events up to the newest one counted now; one stored meanwhile waits for the next
    last_pk = waiting.order_by("-pk").values_list("pk", flat=True).first()
    total = waiting.filter(pk__lte=last_pk).update(sent_at=now)
    message = compose(rule, listed, total)
    rule.last_message_at = now
    rule.save(update_fields=["last_message_at"])
    channels = list(rule.channels.filter(enabled=True).order_by("pk"))
    if not channels:
        logger.warning("%s: %s event(s) and no enabled channel to send them to", rule, total)
    return [delivery_create(rule=rule, channel=channel, message=message, now=now) for channel in channels]


def delivery_create(*, rule: Rule | None, channel: Any, message: Message, now: datetime) -> Delivery:
    """Store a delivery and the job that will send it (published after the commit)."""
    delivery = Delivery.objects.create(
        rule=rule, channel=channel, subject=message.subject, text=message.text, payload=message.data,
        event_type=message.event_type, event_count=message.event_count, status=DeliveryStatus.PENDING,
        created_at=now, updated_at=now,
    )
    delivery.job = job_services.job_create(type=DELIVER_TYPE, input={"delivery_id": str(delivery.pk)}).job
    delivery.save(update_fields=["job"])
    return delivery


def digests_send_due(*, now: datetime | None = None) -> int:
    """Send the waiting events of every enabled rule whose window has reopened; returns how many
    rules sent a message."""
    now = now or timezone.now()
    rule_ids = sorted(set(Event.objects.filter(sent_at__isnull=True).values_list("rule_id", flat=True)))
    sent = 0
    for rule_id in rule_ids:
        try:
            with transaction.atomic():
                rule = Rule.objects.select_for_update().filter(pk=rule_id).first()
                if rule is not None and rule.enabled and window_open(rule, now) and send_waiting(rule, now):
                    sent += 1
        except Exception:  # one broken rule must not keep the others' digests back
            logger.exception("rule %s: its waiting events could not be sent", rule_id)
    return sent
