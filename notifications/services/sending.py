"""One attempt at a delivery, recorded; and a delivery sent again by hand.

The `notifications.deliver` job calls `delivery_attempt` once per job attempt: the request is
made outside any transaction (a slow receiver holds no lock), then the attempt is stored
(number, start, outcome, response code, latency, error) with the delivery's new status, and
counted in `conveyor_notification_deliveries_total{outcome}`. The job's own retry policy
(NOTIFICATIONS_MAX_ATTEMPTS, NOTIFICATIONS_RETRY_BACKOFF) decides when the next one comes.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jobs import services as job_services
from notifications import transports
from notifications.errors import NotificationConflict, NotificationNotFound
from notifications.kinds import DELIVER_TYPE, RESENDABLE, AttemptOutcome, DeliveryStatus
from notifications.models import Delivery, DeliveryAttempt
from telemetry import metrics

logger = logging.getLogger("conveyor.notifications")


def delivery_attempt(*, delivery_id: Any, last: bool, now: datetime | None = None) -> transports.TryResult:
    """Try to send the delivery once and store the attempt. `last`: no attempt follows this one
    (the job's last), so a failure that could be retried is final too."""
    delivery = Delivery.objects.select_related("channel").filter(pk=delivery_id).first()
    if delivery is None:
        raise NotificationNotFound("delivery", delivery_id)
    started = now or timezone.now()
    if not delivery.channel.enabled:
        result = transports.TryResult(AttemptOutcome.REFUSED, error=f"channel {delivery.channel_id} is disabled")
        latency = 0.0
    else:
        clock = time.monotonic()
        result = transports.send(delivery.channel, delivery, now=started)
        latency = time.monotonic() - clock
    status = _status_after(result, last)
    with transaction.atomic():
        number = (delivery.attempts.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        DeliveryAttempt.objects.create(delivery=delivery, number=number, started_at=started, outcome=result.outcome,
                                       status_code=result.status_code, latency_ms=round(latency * 1000, 3),
                                       error=result.error)
        Delivery.objects.filter(pk=delivery.pk).update(
            status=status, attempt_count=F("attempt_count") + 1, last_status_code=result.status_code,
            last_error=result.error, updated_at=timezone.now(),
            **({"sent_at": timezone.now()} if status == DeliveryStatus.SENT else {}))
    metrics.NOTIFICATIONS.inc(outcome=str(result.outcome))
    log = logger.info if result.outcome == AttemptOutcome.SENT else logger.warning
    log("delivery %s to channel %s, attempt %s: %s%s%s", delivery.message_id, delivery.channel_id, number,
        result.outcome, f" {result.status_code}" if result.status_code else "", f": {result.error}" if result.error
        else "")
    return result


def _status_after(result: transports.TryResult, last: bool) -> str:
    if result.outcome == AttemptOutcome.SENT:
        return DeliveryStatus.SENT
    if result.outcome == AttemptOutcome.REFUSED:
        return DeliveryStatus.REFUSED
    return DeliveryStatus.RETRYING if result.retry and not last else DeliveryStatus.FAILED


def delivery_resend(*, delivery: Delivery, now: datetime | None = None) -> Delivery:
    """Send a delivery again, by a new job: the same message and `webhook-id` (a receiver that
    already has it can tell), its attempts numbered on from the last. NotificationConflict
    while it is still on its way (pending or retrying)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().filter(pk=delivery.pk).first()
        if locked is None:
            raise NotificationNotFound("delivery", delivery.pk)
        if locked.status not in RESENDABLE:
            raise NotificationConflict(f"delivery {locked.pk} is {locked.status}: it is still on its way; resend "
                                       "it once it is sent, failed or refused", current=locked.status)
        locked.job = job_services.job_create(type=DELIVER_TYPE, input={"delivery_id": str(locked.pk)}).job
        locked.status = DeliveryStatus.PENDING
        locked.updated_at = now
        locked.save(update_fields=["job", "status", "updated_at"])
    logger.info("delivery %s to channel %s sent again by hand", locked.message_id, locked.channel_id)
    return locked
