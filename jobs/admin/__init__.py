"""The operators' console in the admin: jobs (read-only; cancel, retry and bulk actions through
the services), pauses, API tokens and the small tenancy models. The pages above the admin
(overview, failure groups) are the `console` app.

    job.py       JobAdmin: the list's columns and filters, the page's mixin
    job_list.py  the list's search state, paginator, badges and progress bars
    job_page.py  the job page: status, progress, payload, timeline, log lines, why it waits
    bulk.py      "Cancel/Retry all matching": preview, cap, reason, refusals
    actions.py   cancel and retry of the selected rows and the page's buttons
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
from jobs.admin.job import JobAdmin
from jobs.admin.pauses import PauseAdmin
from jobs.admin.tenancy import MembershipAdmin, MembershipInline, OrganizationAdmin, ProjectAdmin
from jobs.admin.tokens import ApiTokenAdmin

__all__ = [
    "ESTIMATE_COUNT_ABOVE", "ApiTokenAdmin", "EstimatedCountPaginator", "JobAdmin",
    "MembershipAdmin", "MembershipInline", "OrganizationAdmin", "PauseAdmin", "ProjectAdmin", "QueueFilter",
    "StuckFilter", "TypeFilter", "estimated_row_count",
]
