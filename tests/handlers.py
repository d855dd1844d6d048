"""Handlers that only the tests register (workers started by tests import them too)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from handlers import Backoff, JobContext, RetryableError, handler


@handler("test.flaky_fast", max_attempts=3, backoff=Backoff(base=0.2, factor=5))
def flaky_fast(ctx: JobContext) -> dict[str, Any]:
    """demo.flaky with a short backoff (0.2 s, 1 s) so that retries are quick to observe."""
    if ctx.attempt <= int(ctx.input.get("failures", 1)):
        raise RetryableError(f"planned failure on attempt {ctx.attempt}")
    return {"succeeded_on_attempt": ctx.attempt}


@handler("test.count")
def count(ctx: JobContext) -> dict[str, Any]:
    """Appends a line to input["path"] per run, so that a test can count executions."""
    with Path(ctx.input["path"]).open("a") as out:
        out.write(f"{ctx.job_id} {ctx.attempt}\n")
    time.sleep(float(ctx.input.get("seconds", 0)))
    return {"ran": True}


@handler("test.stubborn")
def stubborn(ctx: JobContext) -> dict[str, Any]:
    """Sleeps without ever calling progress or check_cancelled."""
    time.sleep(float(ctx.input.get("seconds", 5)))
    return {"slept": ctx.input.get("seconds", 5)}
