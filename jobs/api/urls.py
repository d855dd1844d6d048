"""The jobs API's routes, mounted under /api/ (no trailing slash, as the first clients used them).

The bulk and project routes come before `jobs/<id>`, which would otherwise take "bulk" and
"projects" for job ids. Path ids are matched as text and checked by the views, so that a
malformed one answers a JSON 400 naming the parameter rather than an HTML 404.
"""
from __future__ import annotations

from django.urls import path

from jobs.api import views

urlpatterns = [
    path("jobs", views.JobCollectionView.as_view(), name="api-jobs"),
    path("jobs/bulk", views.JobBulkCreateView.as_view(), name="api-jobs-bulk"),
    path("jobs/bulk/cancel", views.JobBulkCancelView.as_view(), name="api-jobs-bulk-cancel"),
    path("jobs/bulk/retry", views.JobBulkRetryView.as_view(), name="api-jobs-bulk-retry"),
    path("jobs/projects/<str:projectId>", views.ProjectJobsView.as_view(), name="api-project-jobs"),
    path("jobs/projects/<str:projectId>/stats", views.ProjectJobStatsView.as_view(), name="api-project-stats"),
    path("jobs/<str:id>", views.JobDetailView.as_view(), name="api-job"),
    path("jobs/<str:id>/cancel", views.JobCancelView.as_view(), name="api-job-cancel"),
    path("jobs/<str:id>/retry", views.JobRetryView.as_view(), name="api-job-retry"),
    path("v1/orgs/<str:orgId>/jobs", views.OrgJobsView.as_view(), name="api-org-jobs"),
    path("v1/orgs/<str:orgId>/jobs/stats", views.OrgJobStatsView.as_view(), name="api-org-stats"),
    path("job-types", views.JobTypesView.as_view(), name="api-job-types"),
    path("pauses", views.PauseCollectionView.as_view(), name="api-pauses"),
    path("pauses/<str:kind>/<str:name>", views.PauseDetailView.as_view(), name="api-pause"),
    path("quotas/me", views.QuotaView.as_view(), name="api-quotas-me"),
]
