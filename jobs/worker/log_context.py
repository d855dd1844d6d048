"""The job a worker runs, bound to the log context for as long as its task runs
(`telemetry.logs`): every line logged meanwhile in that thread, by the platform, the handler
or Celery (its "succeeded" line included), carries job_id, job_type, attempt, queue, worker.

Bound at `task_prerun` from the message (the id, the type, the queue it came through, the
worker's node name); the attempt is added once the claim has read the row
(`jobs.worker.run`); unbound at `task_postrun`. The heartbeat thread logs about the job in a
copy of the job thread's context, so its lines carry the same fields; the worker's main
process's "received" line names the job in its text.
"""
from __future__ import annotations

from contextvars import Token
from typing import Any

from celery import signals

from jobs.publishing.task_names import RUN_JOB, RUN_UNTRACKED_JOB
from telemetry import logs

_bound: dict[str, Token[logs.JobLogContext | None]] = {}


@signals.task_prerun.connect
def _bind(sender: Any = None, task_id: str | None = None, task: Any = None, args: Any = None,
          kwargs: Any = None, **extra: Any) -> None:
    name = getattr(task, "name", None)
    if task_id is None or name not in (RUN_JOB, RUN_UNTRACKED_JOB):
        return
    args, kwargs = list(args or ()), kwargs or {}
    request = task.request
    where = {"queue": (request.delivery_info or {}).get("routing_key"), "worker": request.hostname}
    if name == RUN_JOB and args:
        job_type = kwargs.get("job_type") or (args[2] if len(args) > 2 else None)
        _bound[task_id] = logs.bind_job(str(args[0]), job_type=job_type, **where)
    elif name == RUN_UNTRACKED_JOB and args:  # its id, as jobs.worker.untracked names it
        _bound[task_id] = logs.bind_job(f"system_{task_id}", job_type=str(args[0]), attempt=1, **where)


@signals.task_postrun.connect
def _unbind(sender: Any = None, task_id: str | None = None, **extra: Any) -> None:
    token = _bound.pop(task_id, None) if task_id is not None else None
    if token is not None:
        try:
            logs.unbind_job(token)
        except ValueError:  # bound in another context (cannot happen in Celery's pools); nothing to undo here
            pass
