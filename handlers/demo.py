"""Handlers for demos and tests: a sleeper that reports progress and a flaky one."""
from __future__ import annotations

import time
from typing import Any

from handlers.context import JobContext
from handlers.errors import PermanentError, RetryableError
from handlers.registry import handler


@handler("demo.sleep")
def sleep(ctx: JobContext) -> dict[str, Any]:
    """Sleeps `seconds` (default 1) in `steps` (default 10) equal steps, reporting progress."""
    seconds = float(ctx.input.get("seconds", 1))
    steps = max(1, int(ctx.input.get("steps", 10)))
    if seconds < 0:
        raise PermanentError(f"seconds must be >= 0, got {seconds}")
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        ctx.progress(100 * step / steps, f"step {step} of {steps}")
    return {"slept": seconds, "steps": steps}


@handler("demo.flaky")
def flaky(ctx: JobContext) -> dict[str, Any]:
    """Fails its first `failures` attempts (default 1), then succeeds; `permanent` fails for good."""
    failures = int(ctx.input.get("failures", 1))
    if ctx.input.get("permanent"):
        raise PermanentError("demo.flaky asked to fail permanently")
    if ctx.attempt <= failures:
        raise RetryableError(f"demo.flaky failing attempt {ctx.attempt} of {failures} planned failures")
    return {"succeeded_on_attempt": ctx.attempt}
