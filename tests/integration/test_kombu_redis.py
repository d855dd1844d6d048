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


def _ack_on_a_channel_closed_by_the_outage(ack: Callable[..., Any]) -> Any:
    """A handler finished while Redis was away: the prefork main process acks its message only
    after the reconnection, on the old channel, which the outage closed."""
    connection = Connection(settings.CELERY_BROKER_URL)
    channel = connection.default_channel
    assert isinstance(channel, redis_transport.Channel)
    channel.qos._delivered["a-finished-job"] = None
    channel.close()  # what the consumer's reconnection did: connection None,
    channel._pool = None  # and its pools disconnected
    try:
        return ack(channel.qos, "a-finished-job")
    finally:
        connection.release()


def test_without_the_guard_a_late_ack_fails_in_a_way_celery_does_not_expect() -> None:
    with pytest.raises(AttributeError, match="client"):
        _ack_on_a_channel_closed_by_the_outage(kombu_redis._original_ack)


def test_with_the_guard_a_late_ack_or_reject_is_skipped_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    _ack_on_a_channel_closed_by_the_outage(kombu_redis._ack)
    assert "not acknowledged on the closed channel" in caplog.text
    _ack_on_a_channel_closed_by_the_outage(lambda qos, tag: kombu_redis._reject(qos, tag, requeue=True))
    assert "not rejected on the closed channel" in caplog.text


def test_a_channel_closed_in_good_order_still_acks_through_its_pool() -> None:
    connection = Connection(settings.CELERY_BROKER_URL)
    channel = connection.default_channel
    channel.qos._delivered["a-finished-job"] = None
    channel.close()
    try:
        kombu_redis._ack(channel.qos, "a-finished-job")
        assert "a-finished-job" not in channel.qos._delivered
    finally:
        connection.release()


def test_the_guards_are_what_kombu_runs() -> None:
    assert redis_transport.QoS.ack is kombu_redis._ack
    assert redis_transport.QoS.reject is kombu_redis._reject
    assert redis_transport.QoS.restore_unacked is kombu_redis._restore_unacked
