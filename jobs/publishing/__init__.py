"""Hand a job to the broker. Imports nothing of the worker.

- `on_commit`: publish once the transaction that made a job runnable commits; hold the job
  for the sweeper when the broker cannot take it; keep long delays in the database.
- `broker`: send the platform's tasks by their names (`task_names`), one message or a
  pipeline of many.
- `producers`: the reused broker producers and the run_job message builder.
- `modes`: broker, record or inline (tests); the inline runner is registered by the worker
  package when the jobs app starts, so that publishing never imports it.

Callers use the names below through the package (`publishing.send_run_job(...)`), so that a
test can replace one of them here.
"""
from __future__ import annotations

from jobs.publishing.broker import (
    BATCH_SIZE,
    PublishIncomplete,
    RunJobMessage,
    send_admission,
    send_probe,
    send_run_job,
    send_run_jobs,
    send_untracked_job,
)
from jobs.publishing.modes import InlineRunner, Recorded, current_mode, recorded, set_inline_runner
from jobs.publishing.on_commit import dispatch_plan, hold, publish_many_on_commit, publish_on_commit
from jobs.publishing.producers import broker_priority, reset_publishers
from jobs.publishing.task_names import RUN_JOB, RUN_UNTRACKED_JOB

__all__ = [
    "BATCH_SIZE",
    "RUN_JOB",
    "RUN_UNTRACKED_JOB",
    "InlineRunner",
    "PublishIncomplete",
    "Recorded",
    "RunJobMessage",
    "broker_priority",
    "current_mode",
    "dispatch_plan",
    "hold",
    "publish_many_on_commit",
    "publish_on_commit",
    "recorded",
    "reset_publishers",
    "send_admission",
    "send_probe",
    "send_run_job",
    "send_run_jobs",
    "send_untracked_job",
    "set_inline_runner",
]
