"""Concurrency slots and rate limits held in Redis, shared by every worker on every host.

1. A slot is a lease: a member (the job id) of a sorted set per limit key, scored with its
   expiry. Taking one drops expired members first, so a worker that died frees its slots
   when their lease runs out (JOBS_HEARTBEAT_TIMEOUT after its last renewal).
2. The running execution renews its lease with each heartbeat and drops it when it ends.
3. A rate limit is a sliding log of start times per type; a start that does not fit is told
   how long to wait.
All arithmetic happens inside Lua scripts on Redis's own clock, so hosts need not agree on
the time and two workers can never both take the last slot.
"""
from __future__ import annotations

import uuid
from functools import lru_cache

import redis
from django.conf import settings

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  return 1
end
return 0
"""

_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  return 1
end
return 0
"""

# returns 0 when the start fits, else the milliseconds until it would
_RATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], period)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + period - now)
"""


def redis_client_url(broker_url: str) -> str:
    """redis-py's spelling of a kombu broker URL (kombu writes unix sockets as redis+socket://)."""
    if broker_url.startswith("redis+socket://"):
        return "unix://" + broker_url[len("redis+socket://"):]
    return broker_url


@lru_cache(maxsize=1)
def client() -> redis.Redis:
    return redis.Redis.from_url(
        redis_client_url(settings.CELERY_BROKER_URL),
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
    )


@lru_cache(maxsize=1)
def _scripts() -> tuple[object, object, object]:
    c = client()
    return c.register_script(_ACQUIRE), c.register_script(_RENEW), c.register_script(_RATE)


def _ttl_ms() -> int:
    return int(settings.JOBS_HEARTBEAT_TIMEOUT * 1000)


def slot_key(lease: str) -> str:
    return f"conveyor:slots:{lease}"


def acquire_slot(lease: str, limit: int, job_id: str) -> bool:
    """Take one of `limit` slots of `lease` for job_id (again, if it already holds one)."""
    acquire, _, _ = _scripts()
    return bool(acquire(keys=[slot_key(lease)], args=[job_id, limit, _ttl_ms()]))  # type: ignore[operator]


def renew_slot(lease: str, job_id: str) -> bool:
    _, renew, _ = _scripts()
    return bool(renew(keys=[slot_key(lease)], args=[job_id, _ttl_ms()]))  # type: ignore[operator]


def release_slot(lease: str, job_id: str) -> None:
    client().zrem(slot_key(lease), job_id)


def slot_holders(lease: str) -> list[str]:
    """Who holds a slot now (expired leases included until the next acquire drops them)."""
    return [member.decode() for member in client().zrange(slot_key(lease), 0, -1)]


def take_rate(job_type: str, count: int, period: float) -> float:
    """Record a start of job_type if it fits the rate; else the seconds to wait."""
    _, _, rate = _scripts()
    wait_ms = rate(keys=[f"conveyor:rate:{job_type}"], args=[count, int(period * 1000), uuid.uuid4().hex])  # type: ignore[operator]
    return int(wait_ms) / 1000.0
