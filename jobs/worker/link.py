"""What a JobContext writes through (`handlers.context.JobLink`).

`JobRowLink` is the link of a tracked job to its Job row: progress and the cancel flag go
through the services. `WorkerLogLink` is an untracked job's: it has no row, so progress goes
to the worker log and no cancel can be asked for.
"""
from __future__ import annotations

import logging

from jobs import services
from jobs.models import Job
from jobs.worker import log_lines, outage

logger = logging.getLogger("conveyor.worker")


class JobRowLink:
    """The context's link to the Job row. Progress is best effort: a database blip must not
    cost the handler its attempt."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def write_progress(self, percent: int, message: str) -> bool:
        try:
            live = services.job_heartbeat(job=self.job, progress=percent, message=message)
        except outage.DATABASE_ERRORS as exc:  # one line per outage, not one per write
            outage.unavailable(self.job.pk, "to store its progress", exc)
            return False
        outage.reachable(self.job.pk)
        return live.cancel_requested

    def write_log(self, attempt: int, level: int, message: str) -> None:
        """Keep a line of the job's log for its page (best effort)."""
        log_lines.keep_line(job_id=self.job.pk, attempt=attempt, level=level, message=message)

    def cancel_requested(self) -> bool:
        try:
            requested = services.job_cancel_requested(job=self.job)
        except outage.DATABASE_ERRORS as exc:
            outage.unavailable(self.job.pk, "to check for a cancel", exc)
            return False
        outage.reachable(self.job.pk)
        return requested


class WorkerLogLink:
    """An untracked job has no row: progress goes to the worker log."""

    def __init__(self, ident: str, job_type: str) -> None:
        self.ident = ident
        self.job_type = job_type

    def write_progress(self, percent: int, message: str) -> bool:
        # "system job" in the line: operators' log searches predate the word "untracked"
        logger.info("system job %s [%s] progress %s%% %s", self.ident, self.job_type, percent, message)
        return False

    def cancel_requested(self) -> bool:
        return False
