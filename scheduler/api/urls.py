"""The schedules API's routes, mounted under /api/ beside the jobs API (no trailing slash, as
there). Path ids are matched as text and checked by the views: a malformed one answers a JSON
400 naming the parameter rather than an HTML 404."""
from __future__ import annotations

from django.urls import path

from scheduler.api import views

urlpatterns = [
    path("schedules", views.ScheduleCollectionView.as_view(), name="api-schedules"),
    path("schedules/<str:id>", views.ScheduleDetailView.as_view(), name="api-schedule"),
    path("schedules/<str:id>/run", views.ScheduleRunView.as_view(), name="api-schedule-run"),
    path("v1/orgs/<str:orgId>/schedules", views.OrgSchedulesView.as_view(), name="api-org-schedules"),
]
