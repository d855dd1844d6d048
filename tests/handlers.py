"""Handlers that only the tests register (workers started by tests import them too)."""
from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from celery import signals

from handlers import Backoff, JobContext, RetryableError, handler

# A test that sets this folder in its workers' environment counts every run_job delivery:
# one line (the job id) per delivery, in a file per process.
DELIVERIES_ENV = "CONVEYOR_TEST_DELIVERIES"


@signals.task_prerun.connect
def _count_delivery(sender: Any = None, args: Any = None, **kwargs: Any) -> None:
    folder = os.environ.get(DELIVERIES_ENV)
    if folder and getattr(sender, "name", "") == "jobs.run_job" and args:
        with Path(folder, f"{os.getpid()}.txt").open("a") as out:
            out.write(f"{args[0]}\n")


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


# --- policies (issue: handler policies) ------------------------------------------------------

from pydantic import BaseModel  # noqa: E402


def _mark(ctx: JobContext, event: str) -> None:
    """One line per event, appended atomically: '<event> <job id> <time>'."""
    with Path(ctx.input["path"]).open("a") as out:
        out.write(f"{event} {ctx.job_id} {time.time():.6f}\n")


def _timed_run(ctx: JobContext) -> dict[str, Any]:
    _mark(ctx, "start")
    if "max_seconds" in ctx.input:
        time.sleep(random.uniform(0, float(ctx.input["max_seconds"])))
    else:
        time.sleep(float(ctx.input.get("seconds", 0.2)))
    _mark(ctx, "end")
    return {"ok": True}


handler("test.limited1", concurrency=1)(_timed_run)
handler("test.limited2", concurrency=2)(_timed_run)
handler("test.limited4", concurrency=4)(_timed_run)
handler("test.per_key", concurrency=1, concurrency_key="input.key")(_timed_run)
handler("test.per_org", concurrency=1, concurrency_key="org")(_timed_run)
handler("test.rated", rate_limit=(3, 2.0))(_timed_run)
handler("test.debounced", dedup_key="item-{item}", debounce=1.0)(_timed_run)
handler("test.deduped", dedup_key="thing-{thing}")(_timed_run)
handler("test.queue_timeout", queue_timeout=1.0)(_timed_run)


@handler("test.soft_timeout", timeout=(0.5, 10), max_attempts=2, backoff=Backoff(base=0.1))
def soft_timeout(ctx: JobContext) -> dict[str, Any]:
    time.sleep(5)
    return {"never": True}


@handler("test.hard_timeout", timeout=(None, 1.0), max_attempts=1)
def hard_timeout(ctx: JobContext) -> dict[str, Any]:
    while True:  # ignores every exception: only killing the process stops it
        try:
            time.sleep(0.05)
        except BaseException:
            pass


@handler("test.deaf")
def deaf(ctx: JobContext) -> dict[str, Any]:
    """Swallows even the interrupt: only terminating the process stops it."""
    deadline = time.monotonic() + float(ctx.input.get("seconds", 60))
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except BaseException:
            pass
    return {"finished": True}


class Invoice(BaseModel):
    invoice_id: int
    email: str


@handler("test.schema", schema=Invoice)
def with_schema(ctx: JobContext) -> dict[str, Any]:
    return {"invoice": ctx.input["invoice_id"]}


@handler("test.system", system=True)
def system_job(ctx: JobContext) -> dict[str, Any]:
    ctx.progress(50, "half way")
    with Path(ctx.input["path"]).open("a") as out:
        out.write(f"{ctx.job_id}\n")
    return {"id": ctx.job_id}


@handler("test.session_settings")
def session_settings(ctx: JobContext) -> dict[str, Any]:
    """Reports how the worker's database session commits (PostgreSQL only)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return {"synchronous_commit": cursor.fetchone()[0]}


@handler("test.noop")
def noop(ctx: JobContext) -> dict[str, Any]:
    """Returns at once."""
    return {}


# --- the job page (issue: operations console) --------------------------------------------------


@handler("test.sensitive", sensitive=("password", "token"))
def with_secrets(ctx: JobContext) -> dict[str, Any]:
    """Signs in with input["password"] and input["token"]: fields the job page masks."""
    ctx.log("signing in as %s", ctx.input.get("user"))
    return {"signed_in": ctx.input.get("user")}


@handler("test.log_lines", max_attempts=2, backoff=Backoff(base=0.1))
def log_lines(ctx: JobContext) -> dict[str, Any]:
    """Logs input["lines"] lines (one a warning), then fails its first attempt if input["fail_first"]."""
    import logging

    for number in range(1, int(ctx.input.get("lines", 3)) + 1):
        ctx.log("line %s of attempt %s", number, ctx.attempt, level=logging.WARNING if number == 2 else logging.INFO)
    if ctx.input.get("fail_first") and ctx.attempt == 1:
        raise RetryableError("first attempt fails on purpose")
    return {"logged": int(ctx.input.get("lines", 3))}
