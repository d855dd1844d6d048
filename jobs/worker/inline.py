"""The inline runner: jobs run in the publishing process (JOBS_DISPATCH_MODE=inline, and
`jobs.testing.jobs_run_inline()`), without a broker or a worker.

Publishing does not import the worker (the worker imports the services, which publish);
`install()`, called when the jobs app starts, registers this runner into it.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from jobs import publishing
from jobs.worker import run, untracked

logger = logging.getLogger("conveyor.worker")


class InlineRunner:
    """Runs a published job at once, in this process: no limits, no heartbeat, no countdown."""

    def run_job(self, job_id: str, token: str) -> None:
        run.execute(job_id, token, worker="inline", apply_limits=False, heartbeat=False)

    def run_untracked(self, job_type: str, payload: dict[str, Any]) -> str:
        # as Celery's eager apply() did: a handler's exception is logged, not raised into the
        # code that sent the job
        task_id = str(uuid.uuid4())
        try:
            untracked.execute_untracked(job_type, payload, task_id=task_id)
        except Exception:
            logger.exception("untracked job system_%s [%s] failed", task_id, job_type)
        return task_id


def install() -> None:
    publishing.set_inline_runner(InlineRunner())
