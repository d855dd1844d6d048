"""Every write of notifications, one module per duty:

- `channels`:   channels created, changed, deleted; webhook secrets made and rotated;
- `rules`:      rules created, changed, deleted;
- `events`:     an event stored and, within its rule's throttle, sent (one message, or a digest
                when the window reopens), each message a delivery job per channel;
- `sending`:    one attempt at a delivery, recorded; a delivery sent again by hand;
- `evaluation`: the periodic check of the conditions (fired, resolved), digests, pruning;
- `validation`: the checks every writer applies, each error naming its field.

Callers use the names below (`from notifications import services`).
"""
from __future__ import annotations

from notifications.services.channels import (
    ChannelSecret,
    channel_create,
    channel_delete,
    channel_rotate_secret,
    channel_update,
)
from notifications.services.evaluation import condition_evaluate, history_prune, notifications_evaluate
from notifications.services.events import digests_send_due, event_record, window_open
from notifications.services.rules import rule_create, rule_delete, rule_fields, rule_update
from notifications.services.sending import delivery_attempt, delivery_resend

__all__ = [
    "ChannelSecret", "channel_create", "channel_delete", "channel_rotate_secret", "channel_update",
    "condition_evaluate", "delivery_attempt", "delivery_resend", "digests_send_due", "event_record",
    "history_prune", "notifications_evaluate", "rule_create", "rule_delete", "rule_fields", "rule_update",
    "window_open",
]
