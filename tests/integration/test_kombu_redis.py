"""The guard of config/kombu_redis.py. When Redis goes away under a worker, Celery's consumer
collects the connection (detaching its transport) and closes it; a channel still open then,
with messages delivered and not acked (running jobs), restores them through a new client built
from the detached transport's connection info. Here that state is built directly."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection
from kombu.transport import redis as redis_transport

from config import kombu_redis


def _close_a_detached_channel_holding_unacked_messages(restore: Callable[..., Any]) -> None:
    connection = Connection(settings.CELERY_BROKER_URL)
    channel = connection.default_channel
    assert isinstance(channel, redis_transport.Channel)
    channel.qos._delivered["a-running-job"] = None  # a message delivered and not acked yet
    channel._pool = None  # the pools were disconnected by the first, failed close
    connection.transport.client = None  # what Connection.collect() leaves
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redis_transport.QoS, "restore_unacked", restore)
        channel.close()


def test_without_the_guard_kombu_fails_in_a_way_celery_does_not_expect() -> None:
    with pytest.raises(AttributeError, match="hostname"):
        _close_a_detached_channel_holding_unacked_messages(kombu_redis._original_restore_unacked)


def test_with_the_guard_the_close_goes_through_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    _close_a_detached_channel_holding_unacked_messages(kombu_redis._restore_unacked)
    assert "1 unacknowledged message(s): not restored now" in caplog.text
