"""The notifications app's job types.

- `notifications.deliver` sends one delivery (`{"delivery_id": ...}`) on the `notifications`
  queue: one attempt per job attempt, NOTIFICATIONS_MAX_ATTEMPTS of them, the wait before
  retry n being NOTIFICATIONS_RETRY_BACKOFF * 3^(n-1) seconds (at most an hour), or the
  receiver's Retry-After. An answer that retrying cannot change ends it at once.
- `notifications:evaluate`, an untracked job on the system queue, fired by the system schedule
  of the same name: the conditions, the digests due, the pruning
  (`notifications.services.evaluation`).

Registered by the app itself (`NotificationsConfig.ready`), whatever JOBS_HANDLER_MODULES
lists, since rules without their deliveries would fail silently; listing this module there
too is harmless. The settings are read when the module is imported: at process start.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from pydantic import BaseModel, Field

from handlers.context import JobContext
from handlers.errors import PermanentError, RetryableError
from handlers.registry import Backoff, handler
from notifications import services
from notifications.errors import NotificationNotFound
from notifications.kinds import DELIVER_TYPE, EVALUATE_TYPE, QUEUE, AttemptOutcome


class DeliverInput(BaseModel):
    delivery_id: str = Field(min_length=1, max_length=64)


# The socket timeouts bound each read, not the whole answer: a receiver that dribbles its
# answer byte by byte would hold a worker process for ever without the job's own time limit.
@handler(DELIVER_TYPE, queue=QUEUE, max_attempts=settings.NOTIFICATIONS_MAX_ATTEMPTS,
         backoff=Backoff(base=settings.NOTIFICATIONS_RETRY_BACKOFF, factor=3.0, max=3600.0), schema=DeliverInput,
         timeout=3 * settings.NOTIFICATIONS_HTTP_TIMEOUT + 10)
def deliver(ctx: JobContext) -> dict[str, Any]:
    """Sends one notification delivery (an e-mail, a Slack-compatible or a signed webhook)."""
    last = ctx.attempt >= ctx.max_attempts
    try:
        result = services.delivery_attempt(delivery_id=ctx.input["delivery_id"], last=last)
    except NotificationNotFound as exc:
        raise PermanentError(str(exc)) from None
    if result.outcome == AttemptOutcome.SENT:
        return {"outcome": result.outcome, "statusCode": result.status_code}
    if result.retry and not last:
        raise RetryableError(result.error, delay=result.retry_after)
    raise PermanentError(result.error)


@handler(EVALUATE_TYPE, tracked=False, queue=settings.JOBS_SYSTEM_QUEUE)
def evaluate(ctx: JobContext) -> dict[str, int]:
    """Checks the notification conditions, sends the digests due, prunes old history."""
    counts = services.notifications_evaluate()
    if not any(counts[name] for name in ("fired", "resolved", "digests", "pruned")):
        return {}  # nothing changed: the worker logs this run at DEBUG, as every quiet periodic run
    ctx.log("notifications: %s", counts)
    return counts
