"""The periodic evaluation (`notifications:evaluate`, every NOTIFICATIONS_EVALUATION_INTERVAL
seconds, a system schedule): each condition rule is measured, and a key that starts to hold
fires once, a key that stops holding sends "resolved" once; then the digests whose window
reopened go out, and old history is deleted.

A rule's evaluation runs under the lock of its row, so that two evaluations at once (two
beats) cannot both fire the same change; one rule that fails to evaluate is logged and the
others go on.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications.kinds import CONDITIONS, EventState
from notifications.models import Condition, Delivery, Event, Rule
from notifications.selectors.measures import cleared_summary, measure
from notifications.services.events import digests_send_due, event_record

logger = logging.getLogger("conveyor.notifications")

PRUNE_BATCH = 1000


def notifications_evaluate(*, now: datetime | None = None) -> dict[str, int]:
    """Evaluate every enabled condition rule, send the digests due, prune old history."""
    now = now or timezone.now()
    counts = {"rules": 0, "fired": 0, "resolved": 0, "digests": 0, "pruned": 0}
    for rule_id in Rule.objects.filter(enabled=True, event__in=CONDITIONS).order_by("pk").values_list("pk", flat=True):
        try:
            fired, resolved = condition_evaluate(rule_id=rule_id, now=now)
        except Exception:  # one rule that cannot be measured must not silence the others
            logger.exception("rule %s could not be evaluated", rule_id)
            continue
        counts["rules"] += 1
        counts["fired"] += fired
        counts["resolved"] += resolved
    counts["digests"] = digests_send_due(now=now)
    counts["pruned"] = history_prune(now=now)
    return counts


def condition_evaluate(*, rule_id: int, now: datetime | None = None) -> tuple[int, int]:
    """Measure one rule's condition and record what changed; returns (fired, resolved)."""
    now = now or timezone.now()
    fired = resolved = 0
    with transaction.atomic():
        rule = Rule.objects.select_for_update().filter(pk=rule_id, enabled=True).first()
        if rule is None:
            return 0, 0
        measured = measure(rule, now)
        known = {condition.key: condition for condition in Condition.objects.filter(rule=rule)}
        for key, measurement in measured.items():
            condition = known.get(key)
            if condition is None and not measurement.active:
                continue  # nothing held and nothing holds: no row to keep
            if condition is None:
                condition = Condition(rule=rule, key=key, active=False, since=now)
            changed = condition.active != measurement.active
            if changed:
                condition.active, condition.since = measurement.active, now
                state = EventState.FIRING if measurement.active else EventState.RESOLVED
                event_record(rule_id=rule.pk, kind=rule.event, state=state, key=key, summary=measurement.summary,
                             details=measurement.details, now=now)
                fired, resolved = fired + measurement.active, resolved + (not measurement.active)
            condition.value, condition.checked_at = measurement.value, now
            condition.save()
        for key, condition in known.items():
            if key in measured:
                continue
            if condition.active:
                event_record(rule_id=rule.pk, kind=rule.event, state=EventState.RESOLVED, key=key,
                             summary=cleared_summary(rule, key, condition.value), details={"key": key}, now=now)
                resolved += 1
            condition.delete()
    return fired, resolved


def history_prune(*, now: datetime | None = None, batches: int = 10) -> int:
    """Delete sent events and deliveries (with their attempts) older than
    NOTIFICATIONS_KEEP_DAYS, a batch at a time; returns how many rows went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.NOTIFICATIONS_KEEP_DAYS)
    deleted = 0
    for model, old in ((Event, {"sent_at__lt": cutoff}), (Delivery, {"created_at__lt": cutoff})):
        for _ in range(batches):
            ids: list[Any] = list(model.objects.filter(**old).order_by().values_list("pk", flat=True)[:PRUNE_BATCH])
            if not ids:
                break
            deleted += model.objects.filter(pk__in=ids).delete()[1].get(model._meta.label, 0)
    return deleted
