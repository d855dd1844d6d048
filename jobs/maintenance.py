"""The jobs app's own maintenance, as an untracked job (no Job row; its log is its record),
fired hourly by the `jobs:cleanup` system schedule of `scheduler.system`: the retention of
finished jobs and of Celery's result rows (`jobs.services.retention`), in batches.

The jobs app registers it itself (imported by `JobsConfig.ready`), whatever
JOBS_HANDLER_MODULES lists: it is the platform's duty, not a handler module's.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from handlers.context import JobContext
from handlers.registry import handler
from jobs.conf import conf
from jobs.services.retention import jobs_delete_expired


class JobsCleanupInput(BaseModel):
    keep_completed_days: float | None = Field(default=None, ge=0)
    keep_failed_days: float | None = Field(default=None, ge=0)
    batch_size: int | None = Field(default=None, ge=1)
    max_batches: int | None = Field(default=None, ge=1)


@handler("jobs:cleanup", tracked=False, queue=conf.system_queue, schema=JobsCleanupInput)
def jobs_cleanup(ctx: JobContext) -> dict[str, Any]:
    """Deletes finished jobs past their retention, and old django-celery-results rows."""
    options = {key: value for key, value in ctx.input.items() if value is not None}
    counts = jobs_delete_expired(**options)
    ctx.log("jobs cleanup: %s", counts)
    return counts
