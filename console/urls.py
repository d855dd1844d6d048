"""The console's pages, under /admin/console/ (before the admin's own URLs in config/urls.py)."""
from __future__ import annotations

from django.contrib import admin
from django.urls import path

from console import failures, views

app_name = "console"

urlpatterns = [
    path("", admin.site.admin_view(views.overview), name="overview"),
    path("failures/", admin.site.admin_view(failures.failures), name="failures"),
]
