"""An untracked job: a handler registered with tracked=False, run with no Job row.

The platform's own maintenance, sent by the code-defined schedules through the Celery task
jobs.run_system_job. Its context logs its progress and can never be cancelled; its id is
`system_<Celery task id>`, as ids of such jobs have always been.
"""
from __future__ import annotations

import logging
from typing import Any

from handlers.context import JobContext
from handlers.errors import PermanentError
from handlers.registry import get_handler
from jobs.worker.link import WorkerLogLink

logger = logging.getLogger("conveyor.worker")


def execute_untracked(job_type: str, payload: dict[str, Any], task_id: str) -> Any:
    """Run the untracked job `job_type` on `payload`; returns the handler's result."""
    spec = get_handler(job_type)
    if spec is None or spec.tracked:
        raise PermanentError(f"{job_type!r} is not a registered untracked job (tracked=False)")
    ident = f"system_{task_id}"
    ctx = JobContext(job_id=ident, job_type=job_type, input=payload, attempt=1, max_attempts=1,
                     link=WorkerLogLink(ident, job_type), progress_min_interval=0)
    logger.debug("system job %s [%s] started", ident, job_type)
    result = spec.func(ctx)
    # these run every few seconds to hourly: a line at INFO only when the run did something
    level = logging.INFO if did_something(result) else logging.DEBUG
    logger.log(level, "system job %s [%s] done: %s", ident, job_type, result)
    return result


def did_something(result: Any) -> bool:
    """False for a result that reports nothing done: empty, or counts that are all zero."""
    if isinstance(result, dict):
        return any(did_something(value) for value in result.values())
    if isinstance(result, (list, tuple, set)):
        return any(did_something(value) for value in result)
    if isinstance(result, bool):
        return result
    if isinstance(result, (int, float)):
        return result != 0
    return bool(result)
