"""Rate limits and admission timers held in Redis, shared by every worker on every host.

1. A rate limit is a sliding log of start times per type; a start that does not fit is told
   how long to wait. `rate_room` reads the log without writing to it, for admission.
2. An admission timer is one key per gate holding the time its pending timer fires, so
   that many waiting jobs ask for one timer, not one each.
All arithmetic happens inside Lua scripts on Redis's own clock, so hosts need not agree on
the time. Concurrency slots are not here: they are rows in the database (`jobs.services.gates`),
which a Redis restart cannot lose.
"""
from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings

from telemetry.redis_client import redis_client_url

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

# returns {starts left, milliseconds until the oldest start leaves the window (0: empty)}
_RATE_ROOM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = tonumber(ARGV[2])
local live = redis.call('ZCOUNT', KEYS[1], now - period + 1, '+inf')
local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], now - period + 1, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local wait = 0
if oldest[2] then wait = math.max(1, tonumber(oldest[2]) + period - now) end
return {tonumber(ARGV[1]) - live, wait}
"""

# 1 when no timer is pending that fires within ARGV[1] ms from now (and records ours), else 0
_TIMER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = now + tonumber(ARGV[1])
local pending = redis.call('GET', KEYS[1])
if pending and tonumber(pending) <= due and tonumber(pending) >= now then
  return 0
end
redis.call('SET', KEYS[1], due, 'PX', tonumber(ARGV[1]) + 1000)
return 1
"""


@lru_cache(maxsize=1)
def client() -> redis.Redis:
    return redis.Redis.from_url(
        redis_client_url(settings.CELERY_BROKER_URL),
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
    )


@lru_cache(maxsize=1)
def _scripts() -> tuple[Any, Any, Any]:
    c = client()
    return c.register_script(_RATE), c.register_script(_RATE_ROOM), c.register_script(_TIMER)


def _rate_key(job_type: str) -> str:
    return f"conveyor:rate:{job_type}"


def take_rate(job_type: str, count: int, period: float) -> float:
    """Record a start of job_type if it fits the rate; else the seconds to wait."""
    rate, _, _ = _scripts()
    wait_ms = rate(keys=[_rate_key(job_type)], args=[count, int(period * 1000), uuid.uuid4().hex])
    return int(wait_ms) / 1000.0


def rate_room(job_type: str, count: int, period: float) -> tuple[int, float]:
    """(starts left in the window now, seconds until the oldest start leaves it)."""
    _, room, _ = _scripts()
    left, wait_ms = room(keys=[_rate_key(job_type)], args=[count, int(period * 1000)])
    return int(left), int(wait_ms) / 1000.0


def claim_timer(gate: str, delay: float) -> bool:
    """True when the caller should send an admission timer for `gate` firing in `delay`
    seconds; False when one already pending fires by then."""
    _, _, timer = _scripts()
    return bool(timer(keys=[f"conveyor:admit:{gate}"], args=[max(1, int(delay * 1000))]))
