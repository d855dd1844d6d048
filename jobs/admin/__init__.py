"""The operators' console: jobs (read-only, with their attempts; cancel and retry through
the services) and the small tenancy models.

    job.py       the job list and page, and the attempts inline
    actions.py   cancel and retry, one job at a time through `jobs.services`
    filters.py   the list's filters (stuck jobs by the predicates recovery uses; type, queue)
    counting.py  estimated counts for large tables
    tenancy.py   organizations, memberships, projects
    pauses.py    pause and resume queues and job types
    tokens.py    API tokens: listed and revoked (with an audit entry)

Importing this package registers every model with the admin site.
"""
from __future__ import annotations

from jobs.admin.counting import ESTIMATE_COUNT_ABOVE, EstimatedCountPaginator, estimated_row_count
from jobs.admin.filters import QueueFilter, StuckFilter, TypeFilter
from jobs.admin.job import JobAdmin, JobAttemptInline
from jobs.admin.pauses import PauseAdmin
from jobs.admin.tenancy import MembershipAdmin, MembershipInline, OrganizationAdmin, ProjectAdmin
from jobs.admin.tokens import ApiTokenAdmin

__all__ = [
    "ESTIMATE_COUNT_ABOVE", "ApiTokenAdmin", "EstimatedCountPaginator", "JobAdmin", "JobAttemptInline",
    "MembershipAdmin", "MembershipInline", "OrganizationAdmin", "PauseAdmin", "ProjectAdmin", "QueueFilter",
    "StuckFilter", "TypeFilter", "estimated_row_count",
]
