"""The jobs app's models, one module per concern:

    job.py      the Job record, its named states (the queryset recovery and the admin read),
                and one JobAttempt per execution
    tenancy.py  organizations, memberships with a role, projects
    pause.py    pauses of queues and job types
    marks.py    the sweeper's delivery marks and the quota locks

Only `jobs.services` writes these; read through `jobs.selectors`.
"""
from __future__ import annotations

from jobs.models.job import (
    AT_GATE,
    HELD,
    RUN_JOB_TASK_NAMESPACE,
    SENT,
    Job,
    JobAttempt,
    JobQuerySet,
    due_q,
    late_q,
    overtaken_q,
    run_job_task_id,
    stale_q,
    unclaimed_q,
)
from jobs.models.marks import DeliveryMark, QuotaLock
from jobs.models.pause import Pause, PauseKind
from jobs.models.tenancy import Membership, Organization, Project

__all__ = [
    "AT_GATE", "HELD", "RUN_JOB_TASK_NAMESPACE", "SENT", "DeliveryMark", "Job", "JobAttempt", "JobQuerySet",
    "Membership", "Organization", "Pause", "PauseKind", "Project", "QuotaLock", "due_q", "late_q", "overtaken_q",
    "run_job_task_id", "stale_q", "unclaimed_q",
]
