"""A worker survives losing Redis while messages are unacknowledged (kombu 5.7's Redis transport).

When the broker connection drops, Celery's consumer collects the connection (which detaches
its transport) and then closes it. Closing the channel restores the unacknowledged messages
(the jobs running now, with acks_late) through a fresh Redis client, built from the
transport's connection info, which the collect has already cleared: AttributeError
("'NoneType' object has no attribute 'hostname'"), which the consumer does not expect, and
the whole worker exits with "Unrecoverable error". Seen on prefork workers at every Redis
restart that found handlers running.

Here a restore on a detached transport is skipped with one warning. Nothing is lost by it:
those messages stay in Redis's unacked set (Redis hands them out again after its visibility
timeout), the running handlers record their outcomes in the database as usual, and a late
redelivery claims nothing; if Redis itself lost them, the sweeper republishes their jobs.
"""
from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis

logger = logging.getLogger("conveyor.worker")

_original_restore_unacked = kombu_redis.QoS.restore_unacked


def _restore_unacked(self: Any, client: Any = None) -> Any:
    if client is None and getattr(self.channel.connection, "client", None) is None:
        logger.warning("broker connection lost with %s unacknowledged message(s): not restored now; Redis hands "
                       "them out again after its visibility timeout, and each claims nothing once its job has "
                       "moved on", len(self._delivered))
        self._delivered.clear()
        return None
    return _original_restore_unacked(self, client)


def install() -> None:
    """Apply the guard (idempotent)."""
    kombu_redis.QoS.restore_unacked = _restore_unacked  # type: ignore[method-assign]
