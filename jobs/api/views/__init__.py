"""The jobs API's views: validate the request, ask the request's Viewer
(`jobs.api.permissions`) what the user may see and do, read through `jobs.selectors`, write
through `jobs.services`. No business logic here; every error is answered by `api.errors`.

    common.py   the base view, schema helpers, and the steps several views take
    jobs.py     /api/jobs and one job: list, create, read, cancel, retry
    bulk.py     many jobs at once: create, cancel, retry
    scopes.py   a project's and an organization's jobs and figures
    catalog.py  the job types and the user's quotas
    pauses.py   pauses of queues and job types
"""
from __future__ import annotations

from jobs.api.views.bulk import JobBulkCancelView, JobBulkCreateView, JobBulkRetryView, JobBulkView
from jobs.api.views.catalog import JobTypesView, QuotaView
from jobs.api.views.common import JobsApiView
from jobs.api.views.jobs import JobCancelView, JobCollectionView, JobDetailView, JobRetryView
from jobs.api.views.pauses import PauseCollectionView, PauseDetailView
from jobs.api.views.scopes import OrgJobStatsView, OrgJobsView, ProjectJobStatsView, ProjectJobsView

__all__ = [
    "JobBulkCancelView", "JobBulkCreateView", "JobBulkRetryView", "JobBulkView", "JobCancelView",
    "JobCollectionView", "JobDetailView", "JobRetryView", "JobTypesView", "JobsApiView", "OrgJobStatsView",
    "OrgJobsView", "PauseCollectionView", "PauseDetailView", "ProjectJobStatsView", "ProjectJobsView", "QuotaView",
]
