"""The job pages: the list (search, filters, live refresh, bulk actions) and a read-only change
page, with each job's attempts.

A Job page never saves a Job: every field is read-only, there is no add, change or delete,
and the only writes are cancel and retry (`jobs.admin.actions`, `jobs.admin.bulk`), which call
`jobs.services`. Lists join creator, organization and project, so a page costs the same few
queries whatever its size; they are searched through `jobs.selectors.search` (every filter on
an index, or bounded to the newest jobs) and counted exactly only up to a cap
(`jobs.admin.job_list`).
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import Media
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from jobs import presenters
from jobs.admin import bulk, job_list
from jobs.admin.actions import JobActionsMixin
from jobs.admin.filters import CreatedRangeFilter, QueueFilter, StuckFilter, TypeFilter
from jobs.admin.job_page import JobPageMixin
from jobs.models import Job
from jobs.selectors.search import MIN_ID_PREFIX, scan_rows_setting

# The line under the search box; the page's "Search syntax" and docs/console.md say more.
SEARCH_HELP = (
    f"Words, all combined: a job id or its first {MIN_ID_PREFIX}+ characters, type:demo.sleep, status:failed, "
    'queue:default, dedup:attachment-42, error:"disk full", input.customer_id=42, org:acme, project:12, by:alice.'
)


@admin.register(Job)
class JobAdmin(JobPageMixin, JobActionsMixin, admin.ModelAdmin):
    list_display = (
        "short_id",
        "type",
        "status_badge",
        "progress_bar",
        "attempts_display",
        "priority",
        "queue",
        "created_by",
        "organization",
        "project",
        "created_at",
        "started_at",
        "duration_display",
        "worker",
    )
    list_display_links = ("short_id",)
    list_filter = ("status", TypeFilter, QueueFilter, CreatedRangeFilter, StuckFilter)
    list_select_related = ("created_by", "organization", "project")
    # non-empty so that the search box shows; get_search_results reads the words
    search_fields = ("id",)
    search_help_text = SEARCH_HELP
    ordering = ("-created_at",)
    # only what an index orders: a click on another column would sort a million rows
    sortable_by = ("short_id", "created_at")
    list_per_page = 50
    paginator = job_list.JobListPaginator
    show_full_result_count = False
    # a count per filter choice over the whole table is what a list of millions cannot afford
    show_facets = admin.ShowFacets.NEVER
    actions = ("cancel_selected", "retry_selected")

    # --- nothing here writes a Job ---------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The change page is view-only: a form save would write every column of a possibly
        # stale row over what a worker has written since. Cancel and retry have their own
        # permission ("operate") and go through the services.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Job, form: Any, change: bool) -> None:
        raise PermissionDenied("jobs are changed through their cancel and retry actions only")

    def delete_model(self, request: HttpRequest, obj: Job) -> None:
        raise PermissionDenied("jobs are not deleted from the admin")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        raise PermissionDenied("jobs are not deleted from the admin")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return super().get_queryset(request).select_related(*self.list_select_related)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Job], search_term: str
    ) -> tuple[QuerySet[Job], bool]:
        # the words, the time range and the queue, all through `jobs.selectors.search`
        return job_list.list_search(request, search_term).apply(queryset), False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        state = job_list.list_search(request)  # filled in while the list is read, shown after
        context = {
            **(extra_context or {}),
            "job_search": state,
            "bulk_links": self.bulk_links(request),
            "bulk_max": f"{bulk.bulk_max():,}",
            "scan_rows_default": f"{scan_rows_setting():,}",
            "range_clear_url": _without(request, *job_list.RANGE_PARAMETERS),
        }
        response = super().changelist_view(request, extra_context=context)
        if isinstance(response, TemplateResponse) and response.context_data is not None:
            media = response.context_data.get("media")
            if isinstance(media, Media):
                response.context_data["media"] = _without_actions_js(media)
        return response

    # --- columns and fields ---------------------------------------------------------------

    @admin.display(description="ID", ordering="pk")
    def short_id(self, job: Job) -> str:
        return presenters.short_id(job.pk)

    @admin.display(description="progress", ordering="progress")
    def progress_display(self, job: Job) -> str:
        return f"{job.progress}%"

    @admin.display(description="status")
    def status_badge(self, job: Job) -> str:
        return job_list.status_badge(job)

    @admin.display(description="progress")
    def progress_bar(self, job: Job) -> str:
        return job_list.progress_bar(job)

    @admin.display(description="attempts")
    def attempts_display(self, job: Job) -> str:
        return f"{job.attempts}/{job.max_attempts}"

    @admin.display(description="duration", ordering="actual_duration")
    def duration_display(self, job: Job) -> str:
        return presenters.format_duration(job.actual_duration)


def _without(request: HttpRequest, *names: str) -> str:
    """This list's URL without the given parameters (and its page)."""
    query = request.GET.copy()
    for name in (*names, "p"):
        query.pop(name, None)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


def _without_actions_js(media: Media) -> Media:
    """The page's media without Django's actions.js: it binds to the rows present at load, and
    the live refresh replaces them; jobs/job_list.js does the same on whatever rows are there."""
    parts: Any = media  # the merged lists are private attributes, as Django's own subclasses read them
    scripts = [script for script in parts._js if not str(script).endswith("admin/js/actions.js")]
    return Media(css=parts._css, js=scripts)
