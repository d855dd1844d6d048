"""The ops dashboard: jobs (read-only, with their attempts), and the small tenancy models.

1. A Job page never saves a Job: every field is read-only, there is no add, change or delete,
   and the only writes are cancel and retry, which call `jobs.services` (the state table's
   guarded UPDATEs) one job at a time and report what changed and what was refused.
2. Lists read through `jobs.selectors` (the stuck filter) with creator, organization and
   project joined, so a page costs the same few queries whatever its size.
3. On a table of millions of rows an unfiltered COUNT(*) is the slowest thing the admin does:
   the paginator takes PostgreSQL's planner estimate instead, and the "N total" count that
   needs a second COUNT is off.
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from jobs import presenters, selectors, services
from jobs.errors import ConveyorError
from jobs.models import Job, JobAttempt, Membership, Organization, Project
from jobs.states import JobStatus

# Below this many rows a real COUNT is cheap and exact; above it the estimate is good enough
# to draw "page 1 of 20,000" and saves a sequential scan on every page view.
ESTIMATE_COUNT_ABOVE = 100_000
MAX_ERRORS_LISTED = 10
_ID_PREFIX = re.compile(r"^[0-9a-fA-F][0-9a-fA-F-]{3,35}$")


# --- counting large tables ---------------------------------------------------------------


def estimated_row_count(model: type[Any], using: str = "default") -> int | None:
    """PostgreSQL's estimate of the table's rows (pg_class.reltuples), or None where there is
    none: another database, or a table that was never vacuumed or analyzed (reltuples < 0)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [model._meta.db_table])
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


class EstimatedCountPaginator(Paginator):
    """A paginator that does not COUNT(*) an unfiltered large table on PostgreSQL.

    With filters or a search the count is exact (those queries use the indexes); without any,
    the planner's estimate is used when it is above ESTIMATE_COUNT_ABOVE. Elsewhere (SQLite)
    the count is always exact.
    """

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if isinstance(object_list, QuerySet) and not object_list.query.where:
            estimate = estimated_row_count(object_list.model, using=object_list.db)
            if estimate is not None and estimate > ESTIMATE_COUNT_ABOVE:
                return estimate
        if isinstance(object_list, QuerySet):
            return object_list.count()
        return len(object_list)


# --- filters ----------------------------------------------------------------------------------


class StuckFilter(admin.SimpleListFilter):
    """Jobs the rescuer or the sweeper should have picked up (see `jobs.selectors`)."""

    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("stale", f"Running, no heartbeat for {settings.JOBS_HEARTBEAT_TIMEOUT:g}s"),
            ("unclaimed", f"Queued, due and unclaimed for {settings.JOBS_SWEEP_UNCLAIMED_AFTER:g}s"),
            ("any", "Either"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        if self.value() in ("stale", "unclaimed", "any"):
            return selectors.stuck_jobs(kind=self.value(), queryset=queryset)  # type: ignore[arg-type]
        return queryset


class _RegistryFilter(admin.SimpleListFilter):
    """Choices from the handler registry: a SELECT DISTINCT over millions of rows per page
    view (Django's default for a field filter) is what this avoids."""

    field = ""

    def choices_from_registry(self) -> list[str]:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(value, value) for value in self.choices_from_registry()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        if self.value():
            return queryset.filter(**{self.field: self.value()})
        return queryset


class TypeFilter(_RegistryFilter):
    title = "type"
    parameter_name = "type"
    field = "type"

    def choices_from_registry(self) -> list[str]:
        from handlers.registry import registered_types

        return registered_types()


class QueueFilter(_RegistryFilter):
    title = "queue"
    parameter_name = "queue"
    field = "queue"

    def choices_from_registry(self) -> list[str]:
        from handlers.registry import all_handlers

        return sorted({spec.queue for spec in all_handlers()} | {settings.JOBS_DEFAULT_QUEUE})


# --- jobs -----------------------------------------------------------------------------------


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
class JobAdmin(admin.ModelAdmin):
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
                           "attempts_display", "priority", "queue", "dedup_key", "gate", "worker")}),
        ("Owner", {"fields": ("created_by", "organization", "project")}),
        ("Input and result", {"fields": ("input_display", "result_display")}),
        ("Error", {"fields": ("error", "traceback_display")}),
        ("Times", {"fields": ("created_at", "queued_at", "run_at", "dispatched_at", "started_at", "heartbeat_at",
                              "completed_at", "cancel_requested_at", "updated_at", "estimated_duration",
                              "duration_display", "rescues", "token")}),
    )

    # --- nothing here writes a Job ---------------------------------------------------------

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [name for _, options in self.fieldsets for name in options["fields"]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The change page is view-only: a form save would write every column of a possibly
        # stale row over what a worker has written since. Cancel and retry have their own
        # permission ("operate") and go through the services.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_operate_permission(self, request: HttpRequest) -> bool:
        """May cancel and retry jobs: Django's change permission on Job."""
        return request.user.has_perm("jobs.change_job")

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

    @admin.display(description="actions")
    def controls(self, job: Job) -> str:
        # Buttons inside the change page's own form (which carries the CSRF token) that post
        # to the cancel and retry views; `formaction` avoids a nested form and a template.
        buttons = []
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            buttons.append((reverse("admin:jobs_job_cancel", args=[job.pk]), "Cancel job"))
        if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            buttons.append((reverse("admin:jobs_job_retry", args=[job.pk]), "Retry job"))
        if not buttons:
            return "-"
        return format_html_join(
            " ", '<button type="submit" class="button" formaction="{}" formmethod="post">{}</button>', buttons
        )

    # --- cancel and retry -----------------------------------------------------------------

    @admin.action(description="Cancel selected jobs", permissions=["operate"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.apply_to_jobs(request, _ids(queryset), services.job_cancel, "cancel")

    @admin.action(description="Retry selected jobs", permissions=["operate"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.apply_to_jobs(request, _ids(queryset), services.job_retry, "retry")

    def apply_to_jobs(
        self, request: HttpRequest, job_ids: Iterable[Any], service: Callable[..., Job], verb: str
    ) -> None:
        """Call the service per job; one message for what changed and one for what failed."""
        changed: list[Job] = []
        failures: list[str] = []
        for job_id in job_ids:
            try:
                job = service(job_id=job_id)
            except ConveyorError as exc:
                failures.append(str(exc))
                continue
            changed.append(job)
            self.log_change(request, job, f"{verb} via the admin: now {job.status}")
        if changed:
            self.message_user(request, _success_message(verb, changed), messages.SUCCESS)
        if failures:
            listed = "; ".join(failures[:MAX_ERRORS_LISTED])
            more = f"; and {len(failures) - MAX_ERRORS_LISTED} more" if len(failures) > MAX_ERRORS_LISTED else ""
            self.message_user(
                request, f"Could not {verb} {len(failures)} job(s): {listed}{more}", messages.ERROR
            )

    def get_urls(self) -> list[Any]:
        urls = [
            path("<path:object_id>/cancel/", self.admin_site.admin_view(self.cancel_view), name="jobs_job_cancel"),
            path("<path:object_id>/retry/", self.admin_site.admin_view(self.retry_view), name="jobs_job_retry"),
        ]
        return urls + super().get_urls()

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._object_action(request, object_id, services.job_cancel, "cancel")

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._object_action(request, object_id, services.job_retry, "retry")

    def _object_action(
        self, request: HttpRequest, object_id: str, service: Callable[..., Job], verb: str
    ) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_operate_permission(request):
            raise PermissionDenied
        try:
            job_id = selectors.parse_job_id(object_id)
        except ConveyorError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:jobs_job_changelist"))
        self.apply_to_jobs(request, [job_id], service, verb)
        return HttpResponseRedirect(reverse("admin:jobs_job_change", args=[job_id]))


def _ids(queryset: QuerySet[Job]) -> list[Any]:
    # ids only: each service call reads and writes the row itself, under its own guard
    return list(queryset.order_by().values_list("pk", flat=True))


def _success_message(verb: str, jobs: list[Job]) -> str:
    if verb == "cancel":
        asked = sum(1 for job in jobs if job.status == JobStatus.RUNNING)
        message = f"Cancelled {len(jobs) - asked} job(s)."
        if asked:
            message += f" Asked {asked} running job(s) to stop at their next progress report."
        return message
    return f"Queued {len(jobs)} job(s) again."


def _pre_json(value: Any, limit: int = 20_000) -> str:
    text = json.dumps(value, indent=2, sort_keys=True)
    if len(text) > limit:  # a 1 MB payload would make the page unusable
        text = text[:limit] + f"\n... ({len(text) - limit} more characters)"
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


# --- tenancy ----------------------------------------------------------------------------------


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("user", "organization")
    search_fields = ("user__username", "organization__name", "organization__slug")
    raw_id_fields = ("user", "organization")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "created_at")
    list_select_related = ("organization",)
    search_fields = ("name", "organization__name")
    raw_id_fields = ("organization",)
