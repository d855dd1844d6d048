"""A worker survives losing Redis while messages are unacknowledged (kombu 5.7's Redis transport).

When the broker connection drops, Celery's consumer collects the connection (which detaches
its transport) and then closes it. Closing the channel restores the unacknowledged messages
(the jobs running now, with acks_late) through a fresh Redis client, built from the
transport's connection info, which the collect has already cleared: AttributeError
("'NoneType' object has no attribute 'hostname'"), which the consumer does not expect, and
the whole worker exits with "Unrecoverable error". Seen on prefork workers at every Redis
restart that found handlers running.

The same holds for a message whose handler finished during the outage: a prefork worker's
main process acknowledges it from its event loop, which does not turn while the consumer
reconnects, so the ack comes after the reconnection, on the old channel, closed by then: kombu
builds a client from its connection, which is gone (AttributeError "'NoneType' object has no
attribute 'client'"), and the worker exits. Seen in the soak when a job ended within the two
seconds of a Redis restart.

Here a restore, an ack or a reject on a closed or detached channel is skipped with one
warning. Nothing is lost by it: those messages stay in Redis's unacked set (Redis hands them
out again after its visibility timeout), the handlers record their outcomes in the database
as usual, and a late redelivery claims nothing; if Redis itself lost them, the sweeper
republishes their jobs.
"""
from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis

logger = logging.getLogger("conveyor.worker")

_original_restore_unacked = kombu_redis.QoS.restore_unacked
_original_ack = kombu_redis.QoS.ack
_original_reject = kombu_redis.QoS.reject


def _detached(qos: Any) -> bool:
    """The channel was closed (its connection dropped) or its transport was collected."""
    return getattr(qos.channel.connection, "client", None) is None


def _restore_unacked(self: Any, client: Any = None) -> Any:
    if client is None and _detached(self):
        logger.warning("broker connection lost with %s unacknowledged message(s): not restored now; Redis hands "
                       "them out again after its visibility timeout, and each claims nothing once its job has "
                       "moved on", len(self._delivered))
        self._delivered.clear()
        return None
    return _original_restore_unacked(self, client)


def _cannot_reach_redis(qos: Any) -> bool:
    """The channel is closed and its connection pool gone: kombu would build a client from a
    connection that no longer exists. (A channel closed in good order keeps its pool, and a
    late ack through it still works.)"""
    return qos.channel.connection is None and qos.channel._pool is None


def _ack(self: Any, delivery_tag: Any) -> Any:
    if _cannot_reach_redis(self):
        _skip_late(self, delivery_tag, "acknowledged")
        return None
    return _original_ack(self, delivery_tag)


def _reject(self: Any, delivery_tag: Any, requeue: bool = False) -> Any:
    if _cannot_reach_redis(self):
        _skip_late(self, delivery_tag, "rejected")
        return None
    return _original_reject(self, delivery_tag, requeue)


def _skip_late(qos: Any, delivery_tag: Any, what: str) -> None:
    logger.warning("a message finished after its broker connection was lost (delivery tag %s): not %s on the "
                   "closed channel; Redis hands it out again after its visibility timeout, and it claims nothing "
                   "once its job has moved on", delivery_tag, what)
    qos._delivered.pop(delivery_tag, None)


def install() -> None:
    """Apply the guard (idempotent)."""
    kombu_redis.QoS.restore_unacked = _restore_unacked  # type: ignore[method-assign]
    kombu_redis.QoS.ack = _ack  # type: ignore[method-assign]
    kombu_redis.QoS.reject = _reject  # type: ignore[method-assign]
