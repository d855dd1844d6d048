"""The soak's job types, loaded by its workers through JOBS_HANDLER_MODULES.

Each handler records its start and end in the process's event file, sleeps the time its input
says (0-300 ms), and writes its effect: one row per run in the soak's own table, committed on
a connection of its own (never in the platform's transaction, so that the row says the handler
really ran, whatever the platform then records). A `task_prerun` receiver counts every
`jobs.run_job` delivery, so that the report can tell deliveries that ran nothing.
"""
from __future__ import annotations

import os
import time
import uuid
from typing import Any

import psycopg
from celery.signals import task_prerun

from handlers import JobContext, handler
from soak import events
from soak.spec import EFFECT_TABLE, FREE, KEYED, KEYED_LIMIT, PAIR, PAIR_LIMIT

# How long a handler keeps trying to write its effect while the database is away: longer than
# the soak's outage, so that an outage costs a retry of the write, not an attempt of the job.
EFFECT_WRITE_PATIENCE = 45.0

_conn: psycopg.Connection[Any] | None = None
_conn_pid: int | None = None


def _connection() -> psycopg.Connection[Any]:
    """This process's connection for effects (a new one after a fork or a failure)."""
    global _conn, _conn_pid
    if _conn is None or _conn_pid != os.getpid() or _conn.closed:
        _conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True, connect_timeout=3)
        _conn_pid = os.getpid()
    return _conn


def _drop_connection() -> None:
    global _conn
    conn, _conn = _conn, None
    if conn is not None and _conn_pid == os.getpid():
        try:
            conn.close()
        except Exception:
            pass


def _write_effect(ctx: JobContext, run_id: str) -> None:
    """Insert this run's row. A failure mid-commit may or may not have stored it: the insert
    is idempotent on run_id, so writing again never makes a second row for one run."""
    deadline = time.monotonic() + EFFECT_WRITE_PATIENCE
    while True:
        try:
            _connection().execute(
                f"INSERT INTO {EFFECT_TABLE} (run_id, job_id, attempt, worker) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (run_id) DO NOTHING",
                (run_id, ctx.job_id, ctx.attempt, f"{os.uname().nodename}:{os.getpgid(0)}:{os.getpid()}"),
            )
            return
        except psycopg.Error:
            _drop_connection()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _run(ctx: JobContext) -> dict[str, Any]:
    run_id = str(uuid.uuid4())
    fields = {"job": str(ctx.job_id), "attempt": ctx.attempt, "type": ctx.type, "key": ctx.input.get("key"),
              "run": run_id}
    events.record("start", **fields)
    ok = False
    try:
        time.sleep(max(0, int(ctx.input.get("ms", 0))) / 1000)
        _write_effect(ctx, run_id)
        ok = True
    finally:
        # also on an exception (an interrupt at shutdown, the database away too long); a kill
        # writes nothing, and the report ends such a run when its process died
        events.record("end", ok=ok, **fields)
    return {"run": run_id}


@handler(FREE)
def free(ctx: JobContext) -> dict[str, Any]:
    """Soak: sleep, then write one effect row; no limit."""
    return _run(ctx)


@handler(PAIR, concurrency=PAIR_LIMIT)
def pair(ctx: JobContext) -> dict[str, Any]:
    """Soak: as soak.free, at most two at once across every worker."""
    return _run(ctx)


@handler(KEYED, concurrency=KEYED_LIMIT, concurrency_key="input.key")
def keyed(ctx: JobContext) -> dict[str, Any]:
    """Soak: as soak.free, one at a time per input.key."""
    return _run(ctx)


@task_prerun.connect
def _count_delivery(sender: Any = None, task_id: str | None = None, task: Any = None, args: Any = None,
                    kwargs: Any = None, **extra: Any) -> None:
    """Every delivery of run_job, whether it then runs a handler or not."""
    if getattr(task, "name", None) != "jobs.run_job":
        return
    job_id = args[0] if args else (kwargs or {}).get("job_id")
    events.record("delivery", job=str(job_id), task=task_id)
