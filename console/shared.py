"""One reading for every viewer: a value computed at most once per lifetime for all web processes
and hosts, kept as JSON in Redis (the pattern of `observability.gauges`).

The first request to find the value missing takes a short lock in Redis and computes it; the
others wait a moment for its result instead of computing beside it. Without Redis, every
request computes for itself (the page still answers). A computation that reports `errors` (the
database could not be read) is not kept, so the next request tries again.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from telemetry import redis_client

logger = logging.getLogger("conveyor.console")

# how long a request waits for another one's computation before doing its own
WAIT_FOR_OTHER = 3.0
_POLL = 0.05


def shared_reading(key: str, lifetime: float, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The value under `key` if it is younger than `lifetime` seconds, else a new one computed by
    one request at a time. `compute` returns a JSON-able dict; its key `errors`, when not empty,
    keeps it from being shared."""
    if lifetime <= 0:
        return compute()
    lock = f"{key}:lock"
    try:
        client = redis_client.client()
        deadline = time.monotonic() + WAIT_FOR_OTHER
        while True:
            raw = client.get(key)
            if raw is not None:
                return dict(json.loads(raw))
            if client.set(lock, "1", nx=True, px=int((WAIT_FOR_OTHER + 30) * 1000)):
                break
            if time.monotonic() > deadline:
                return compute()  # the other request is stuck: do not wait on it for ever
            time.sleep(_POLL)
    except Exception as exc:  # redis-py's errors and a socket's: every request computes
        logger.warning("console: Redis could not be read, computing without sharing (%s)", exc)
        return compute()
    try:
        value = compute()
        if not value.get("errors"):
            client.set(key, json.dumps(value, separators=(",", ":")), px=max(int(lifetime * 1000), 1))
        return value
    finally:
        try:
            client.delete(lock)
        except Exception:
            pass
