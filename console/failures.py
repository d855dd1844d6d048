"""The failure groups page: failed jobs grouped by error (`jobs.selectors.failure_groups`), with
count, first and last seen, the types affected, and for each group a link to its jobs and to
the job list's bulk retry (its failed jobs) or bulk cancel (the jobs waiting to retry after the
same error), where the preview, the cap, the reason and the outcome are shown.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from jobs import selectors

# the periods the page offers, by the value of ?since=
PERIODS: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30),
    "all": None,
}
DEFAULT_PERIOD = "7d"


def _list_url(query: str, bulk: str = "") -> str:
    base = reverse("admin:jobs_job_bulk", args=[bulk]) if bulk else reverse("admin:jobs_job_changelist")
    return f"{base}?{urlencode({'q': query})}"


def group_rows(groups: list[selectors.FailureGroup]) -> list[dict[str, Any]]:
    rows = []
    for group in groups:
        failed, retrying = f"group:{group.key} status:failed", f"group:{group.key} status:queued"
        rows.append({
            "group": group,
            "types": sorted(group.types.items(), key=lambda item: -item[1]),
            "jobs_url": _list_url(failed),
            "retry_url": _list_url(failed, "retry"),
            "retrying_url": _list_url(retrying),
            "cancel_url": _list_url(retrying, "cancel"),
            "sample_url": reverse("admin:jobs_job_change", args=[group.sample_id]) if group.sample_id else "",
        })
    return rows


def failures(request: HttpRequest) -> HttpResponse:
    """The failure groups of the chosen period, largest first."""
    user = request.user
    if not user.has_perm("jobs.view_job"):
        raise PermissionDenied("the failure groups show jobs: it needs the permission to view jobs")
    period = request.GET.get("since", DEFAULT_PERIOD)
    if period not in PERIODS:
        period = DEFAULT_PERIOD
    span = PERIODS[period]
    groups = selectors.failure_groups(since=timezone.now() - span if span is not None else None)
    bulk = user.has_perm("jobs.bulk_job")
    context = {
        **admin.site.each_context(request),
        "title": "Failures by error",
        "rows": group_rows(groups),
        "periods": list(PERIODS),
        "period": period,
        "may_retry": bulk and user.has_perm("jobs.retry_job"),
        "may_cancel": bulk and user.has_perm("jobs.cancel_job"),
    }
    return render(request, "console/failures.html", context)
