"""The Redis client the platform's own keys use (limits, metrics, liveness): the broker's
Redis, reached with redis-py."""
from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


def redis_client_url(broker_url: str) -> str:
    """redis-py's spelling of a kombu broker URL (kombu writes unix sockets as redis+socket://)."""
    if broker_url.startswith("redis+socket://"):
        return "unix://" + broker_url[len("redis+socket://"):]
    return broker_url


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_client_url(url), socket_timeout=5, socket_connect_timeout=5,
                                health_check_interval=30)


def client() -> redis.Redis:
    """A client of the broker's Redis; a new one when the broker URL changed (tests)."""
    return _client_for(settings.CELERY_BROKER_URL)
