"""The job pages: a read-only list and change page, with each job's attempts.

A Job page never saves a Job: every field is read-only, there is no add, change or delete,
and the only writes are cancel and retry (`jobs.admin.actions`), which call `jobs.services`.
Lists join creator, organization and project, so a page costs the same few queries whatever
its size, and count large tables by estimate (`jobs.admin.counting`).
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from jobs import presenters
from jobs.admin.actions import JobActionsMixin
from jobs.admin.counting import EstimatedCountPaginator
from jobs.admin.filters import QueueFilter, StuckFilter, TypeFilter
from jobs.admin.job_page import JobPageMixin
from jobs.models import Job, JobAttempt
from jobs.states import ACTION_FROM, JobStatus

_ID_PREFIX = re.compile(r"^[0-9a-fA-F][0-9a-fA-F-]{3,35}$")


class JobAttemptInline(admin.TabularInline):
    """One row per execution attempt, read-only."""

    model = JobAttempt
    fields = ("number", "worker", "started_at", "finished_at", "duration_display", "outcome", "error")
    readonly_fields = fields
    ordering = ("number",)
    extra = 0
    can_delete = False
    show_change_link = False

    @admin.display(description="duration")
    def duration_display(self, attempt: JobAttempt) -> str:
        return presenters.format_duration(attempt.duration)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # whoever may see a job may see its attempts
        return request.user.has_perm("jobs.view_job") or request.user.has_perm("jobs.change_job")


@admin.register(Job)
class JobAdmin(JobPageMixin, JobActionsMixin, admin.ModelAdmin):
    list_display = (
        "short_id",
        "type",
        "status",
        "progress_display",
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
    list_filter = ("status", TypeFilter, QueueFilter, StuckFilter)
    list_select_related = ("created_by", "organization", "project")
    search_fields = ("id", "type", "dedup_key")  # matched by get_search_results below
    search_help_text = "A job id (or its first characters as listed), a type or a dedup key."
    ordering = ("-created_at",)
    list_per_page = 50
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    inlines = (JobAttemptInline,)
    actions = ("cancel_selected", "retry_selected")
    fieldsets = (
        (None, {"fields": ("id", "type", "status", "controls", "progress_display", "progress_message",
                           "attempts_display", "priority", "queue", "dedup_key", "gate", "worker", "flower_task")}),
        ("Owner", {"fields": ("created_by", "organization", "project")}),
        ("Input and result", {"fields": ("input_display", "result_display")}),
        ("Error", {"fields": ("error", "traceback_display")}),
        ("Times", {"fields": ("created_at", "queued_at", "run_at", "dispatched_at", "started_at", "heartbeat_at",
                              "completed_at", "cancel_requested_at", "updated_at", "estimated_duration",
                              "duration_display", "rescues", "token")}),
    )

    # --- nothing here writes a Job ---------------------------------------------------------

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [str(name) for _, options in self.fieldsets for name in options["fields"]]

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

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if self.has_operate_permission(request):
            return self.fieldsets
        return [(name, {**opts, "fields": [f for f in opts["fields"] if f != "controls"]})
                for name, opts in self.fieldsets]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return super().get_queryset(request).select_related(*self.list_select_related)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Job], search_term: str
    ) -> tuple[QuerySet[Job], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            # a whole id is a primary-key lookup, nothing else to search
            return queryset.filter(pk=uuid.UUID(term)), False
        except ValueError:
            pass
        query = Q(type__icontains=term) | Q(dedup_key__icontains=term)
        if _ID_PREFIX.match(term):
            query |= Q(id__startswith=term.lower())
        return queryset.filter(query), False

    # --- columns and fields ---------------------------------------------------------------

    @admin.display(description="ID", ordering="id")
    def short_id(self, job: Job) -> str:
        return presenters.short_id(job.pk)

    @admin.display(description="progress", ordering="progress")
    def progress_display(self, job: Job) -> str:
        return f"{job.progress}%"

    @admin.display(description="attempts")
    def attempts_display(self, job: Job) -> str:
        return f"{job.attempts}/{job.max_attempts}"

    @admin.display(description="duration", ordering="actual_duration")
    def duration_display(self, job: Job) -> str:
        return presenters.format_duration(job.actual_duration)

    @admin.display(description="input")
    def input_display(self, job: Job) -> str:
        return _pre_json(job.input)

    @admin.display(description="result")
    def result_display(self, job: Job) -> str:
        return _pre_json(job.result) if job.result is not None else "-"

    @admin.display(description="traceback")
    def traceback_display(self, job: Job) -> str:
        if not job.error_traceback:
            return "-"
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', job.error_traceback)

    @admin.display(description="Celery task")
    def flower_task(self, job: Job) -> str:
        # The task id is derived from the job id and its current token, the message's own
        # arguments: nothing extra is stored per publish.
        if job.status == JobStatus.QUEUED and job.dispatched_at is None:
            return "no message yet: the job waits in the database (for its run time or a free slot of its limit)"
        task_id = job.current_task_id
        return format_html(
            '<a href="{}/task/{}" target="_blank" rel="noopener">{}</a> in Flower (the current message; '
            "earlier attempts' tasks: search this job's id in Flower's Tasks tab)",
            settings.FLOWER_URL, task_id, task_id,
        )

    @admin.display(description="actions")
    def controls(self, job: Job) -> str:
        # Buttons inside the change page's own form (which carries the CSRF token) that post
        # to the cancel and retry views; `formaction` avoids a nested form and a template.
        buttons = []
        if job.status in ACTION_FROM["cancel"]:
            buttons.append((reverse("admin:jobs_job_cancel", args=[job.pk]), "Cancel job"))
        if job.status in ACTION_FROM["retry"]:
            buttons.append((reverse("admin:jobs_job_retry", args=[job.pk]), "Retry job"))
        if not buttons:
            return "-"
        return format_html_join(
            " ", '<button type="submit" class="button" formaction="{}" formmethod="post">{}</button>', buttons
        )


def _pre_json(value: Any, limit: int = 20_000) -> str:
    text = json.dumps(value, indent=2, sort_keys=True)
    if len(text) > limit:  # a 1 MB payload would make the page unusable
        text = text[:limit] + f"\n... ({len(text) - limit} more characters)"
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)
