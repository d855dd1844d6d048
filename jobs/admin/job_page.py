"""The job page (the admin's change view of a Job)."""
from __future__ import annotations

from django.contrib import admin


class JobPageMixin(admin.ModelAdmin):
    """The job page's parts for JobAdmin."""
