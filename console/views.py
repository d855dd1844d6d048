"""The console's pages: thin views over `console.panels`, rendered in the admin's frame.

Every view is wrapped with `admin.site.admin_view` in `console.urls`: only active staff reach
it, others are sent to the admin's login page.
"""
from __future__ import annotations

from dataclasses import asdict

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from console import panels
from console.overview import cached_overview
from console.presenters import job_list_url
from jobs.selectors.pauses import active_pauses
from observability.gauges import cached_reading


def overview(request: HttpRequest) -> HttpResponse:
    """The overview: per queue and type what waits, runs and finished, the charts, the at-risk
    jobs, the workers and the schedules, from the shared readings."""
    if not request.user.has_perm("jobs.view_job"):
        raise PermissionDenied("the overview shows jobs: it needs the permission to view jobs")
    gauges = asdict(cached_reading())
    reading = cached_overview()
    try:
        pauses = active_pauses()
    except DatabaseError:
        pauses = []
    context = {
        **admin.site.each_context(request),
        "title": "Overview",
        "jobs_url": job_list_url(),
        **panels.overview_panels(gauges, reading, pauses),
    }
    return render(request, "console/overview.html", context)
