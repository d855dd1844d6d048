"""Every read of jobs for the admin, the management commands and the API; one access policy.

    reads.py     a job by id, the filtered queryset behind every list, figures, attempts,
                 the jobs a bulk action or a quota counts
    listing.py   one page of a list with its total (exact up to a cap, estimated beyond)
    pauses.py    which queues and job types are paused
    failures.py  failures grouped by error
    stuck.py     stale and unclaimed jobs (the Job queryset's predicates, shared with recovery)
    tenancy.py   users, organizations and projects by the reference an adapter was given
    access.py    who may see and act on a row owned by a user and an organization (jobs and
                 schedules alike)

Writes live in `jobs.services`; nothing here changes a row. The names below are the package's
interface; import them from `jobs.selectors`.
"""
from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from jobs import models
from jobs.selectors.access import (
    actionable_jobs,
    is_person,
    may_act,
    may_see,
    may_use_organization,
    memberships_of,
    scope_q,
    user_may_act_on,
    visible_jobs,
)
from jobs.selectors.failures import FailureGroup, failure_group_jobs, failure_group_retrying, failure_groups
from jobs.selectors.listing import JobPage, estimated_count, estimated_table_rows, job_list
from jobs.selectors.pauses import active_pauses, pause_of
from jobs.selectors.reads import (
    MAX_LIST_LIMIT,
    ORDERABLE_FIELDS,
    UNSCOPED,
    job_attempts,
    job_get,
    job_ids_for_action,
    job_queryset,
    job_stats,
    jobs_in_quota_scope,
    parse_job_id,
)
from jobs.selectors.stuck import (
    StuckKind,
    stale_running_jobs,
    stuck_jobs,
    unclaimed_queued_jobs,
)
from jobs.selectors.tenancy import organization_find, organization_get, project_find, user_find

__all__ = [
    "MAX_LIST_LIMIT", "ORDERABLE_FIELDS", "UNSCOPED", "JobPage", "StuckKind",
    "FailureGroup", "actionable_jobs", "active_pauses", "failure_group_jobs", "failure_group_retrying",
    "failure_groups", "pause_of", "estimated_count", "estimated_table_rows",
    "is_person", "job_attempts", "job_get", "job_ids_for_action",
    "job_list", "job_queryset", "job_stats", "jobs_in_quota_scope", "may_act", "may_see", "may_use_organization",
    "memberships_of",
    "organization_find", "organization_get", "parse_job_id", "project_find", "scope_q",
    "stale_running_jobs", "stuck_jobs", "unclaimed_queued_jobs", "user_find",
    "user_may_act_on", "visible_jobs", "stale_heartbeat_q", "unclaimed_q",
]


def stale_heartbeat_q(*, now: datetime | None = None) -> Q:
    """Older name: running jobs whose worker stopped heartbeating (`Job.objects.stale`)."""
    return models.stale_q(now)


def unclaimed_q(*, now: datetime | None = None) -> Q:
    """Older name: queued jobs nobody claimed that the sweeper acts on (`Job.objects.unclaimed`)."""
    return models.unclaimed_q(now)
