"""Admin pages for schedules: one for the system schedules, one for the users'.

1. Nothing here saves a schedule through a form: a system schedule is defined in code, a user
   schedule through its services (the API, later). The pages show them, with their next runs,
   their last outcome and a link to their last job.
2. Pause, resume and run-now are list actions and buttons on the change page; each calls
   `scheduler.services` per schedule and reports what it did and what it refused (a run
   refused by the overlap policy, a quota). They need the change permission of the page's
   model ("operate"). A user schedule may also be deleted, through `schedule_delete`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from audit.actors import Actor, Source
from jobs.errors import ConveyorError
from jobs.presenters import iso
from scheduler import presenters, selectors, services
from scheduler.models import ScheduledJob, ScheduleKind, SystemScheduledJob, UserScheduledJob

MAX_ERRORS_LISTED = 10


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("active", "Active"), ("paused", "Paused"), ("disabled", "Disabled")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ScheduledJob]) -> QuerySet[ScheduledJob]:
        if self.value() == "active":
            return queryset.filter(enabled=True, paused=False)
        if self.value() == "paused":
            return queryset.filter(enabled=True, paused=True)
        if self.value() == "disabled":
            return queryset.filter(enabled=False)
        return queryset


class _ScheduleAdmin(admin.ModelAdmin):
    kind = ""
    list_display_links = ("name",)
    list_per_page = 50
    actions = ("pause_selected", "resume_selected", "run_selected")
    detail_fields: tuple[str, ...] = ()

    # --- nothing here saves a schedule through a form -----------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScheduledJob]:
        return selectors.schedule_queryset(kind=self.kind)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [name for _, options in self.get_fieldsets(request, obj) for name in options["fields"]]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = [f for f in self.detail_fields if f != "controls" or self.has_operate_permission(request)]
        return [(None, {"fields": fields})]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # the change page is view-only (see the module doc); actions have "operate"
        return False

    def has_operate_permission(self, request: HttpRequest) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def save_model(self, request: HttpRequest, obj: ScheduledJob, form: Any, change: bool) -> None:
        raise PermissionDenied("schedules are changed through their services only")

    # --- columns ------------------------------------------------------------------------------

    @admin.display(description="starts")
    def starts(self, schedule: ScheduledJob) -> str:
        return schedule.job_type or f"task {schedule.task}"

    @admin.display(description="when")
    def when(self, schedule: ScheduledJob) -> str:
        return presenters.when_text(schedule)

    @admin.display(description="state")
    def state(self, schedule: ScheduledJob) -> str:
        return presenters.state(schedule)

    @admin.display(description="last job")
    def last_job_link(self, schedule: ScheduledJob) -> str:
        if schedule.last_job_id is None:
            return "-"
        url = reverse("admin:jobs_job_change", args=[schedule.last_job_id])
        return format_html('<a href="{}">{}</a>', url, str(schedule.last_job_id)[:8])

    @admin.display(description="next runs (UTC)")
    def next_runs(self, schedule: ScheduledJob) -> str:
        runs = selectors.schedule_upcoming(schedule=schedule)
        if not runs:
            return "-" if not schedule.fires_through_task else presenters.when_text(schedule)
        return format_html_join(", ", "{}", ((iso(moment),) for moment in runs))

    @admin.display(description="beat task")
    def beat_task(self, schedule: ScheduledJob) -> str:
        if schedule.periodic_task_id is None:
            return "-"
        url = reverse("admin:django_celery_beat_periodictask_change", args=[schedule.periodic_task_id])
        return format_html('<a href="{}">{}</a>', url, schedule.periodic_task.name)  # type: ignore[union-attr]

    @admin.display(description="actions")
    def controls(self, schedule: ScheduledJob) -> str:
        # buttons inside the change page's own form (which carries the CSRF token), posting to
        # the views below; `formaction` avoids a nested form and a template
        buttons = [(reverse(self.url_name("run"), args=[schedule.pk]), "Run now")]
        if schedule.paused:
            buttons.append((reverse(self.url_name("resume"), args=[schedule.pk]), "Resume"))
        else:
            buttons.append((reverse(self.url_name("pause"), args=[schedule.pk]), "Pause"))
        return format_html_join(
            " ", '<button type="submit" class="button" formaction="{}" formmethod="post">{}</button>', buttons
        )

    # --- pause, resume, run now ------------------------------------------------------------------

    @admin.action(description="Pause selected schedules", permissions=["operate"])
    def pause_selected(self, request: HttpRequest, queryset: QuerySet[ScheduledJob]) -> None:
        self.apply(request, queryset, lambda s: services.schedule_pause(schedule=s, by=_by(request)), "pause",
                   lambda s: f"paused {s.name!r}")

    @admin.action(description="Resume selected schedules", permissions=["operate"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[ScheduledJob]) -> None:
        self.apply(request, queryset, lambda s: services.schedule_resume(schedule=s, by=_by(request)), "resume",
                   lambda s: f"resumed {s.name!r}")

    @admin.action(description="Run selected schedules now", permissions=["operate"])
    def run_selected(self, request: HttpRequest, queryset: QuerySet[ScheduledJob]) -> None:
        def run(schedule: ScheduledJob) -> str:
            result = services.schedule_run_now(schedule=schedule, by=_by(request))
            if result.outcome not in ("created", "sent"):
                raise ConveyorError(f"schedule {schedule.name!r}: {result.reason}")
            return f"started {schedule.name!r} ({f'job {result.job.pk}' if result.job else f'task {result.task_id}'})"

        self.apply(request, queryset, run, "run", lambda message: message)

    def apply(self, request: HttpRequest, schedules: Iterable[ScheduledJob], action: Callable[[ScheduledJob], Any],
              verb: str, describe: Callable[[Any], str]) -> None:
        """Call the service per schedule; one message for what was done, one for what was refused."""
        done: list[str] = []
        failures: list[str] = []
        for schedule in schedules:
            try:
                outcome = action(schedule)
            except ConveyorError as exc:
                failures.append(str(exc))
                continue
            done.append(describe(outcome))
            self.log_change(request, schedule, f"{verb} via the admin")
        if done:
            self.message_user(request, f"Done: {'; '.join(done)}.", messages.SUCCESS)
        if failures:
            listed = "; ".join(failures[:MAX_ERRORS_LISTED])
            more = f"; and {len(failures) - MAX_ERRORS_LISTED} more" if len(failures) > MAX_ERRORS_LISTED else ""
            self.message_user(request, f"Could not {verb} {len(failures)} schedule(s): {listed}{more}",
                              messages.ERROR)

    def url_name(self, verb: str, *, namespaced: bool = True) -> str:
        """The name of this page's URL for `verb` ("admin:scheduler_systemscheduledjob_run")."""
        name = f"{self.model._meta.app_label}_{self.model._meta.model_name}_{verb}"
        return f"admin:{name}" if namespaced else name

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(f"<int:object_id>/{verb}/", view(self.object_view(verb)), name=self.url_name(verb, namespaced=False))
            for verb in ("pause", "resume", "run")
        ] + super().get_urls()

    def object_view(self, verb: str) -> Callable[..., HttpResponse]:
        action = {"pause": self.pause_selected, "resume": self.resume_selected, "run": self.run_selected}[verb]

        def view(request: HttpRequest, object_id: int) -> HttpResponse:
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            if not self.has_operate_permission(request):
                raise PermissionDenied
            schedules = self.get_queryset(request).filter(pk=object_id)
            if not schedules.exists():
                self.message_user(request, f"schedule {object_id} does not exist", messages.ERROR)
                return HttpResponseRedirect(reverse(self.url_name("changelist")))
            action(request, schedules)
            return HttpResponseRedirect(reverse(self.url_name("change"), args=[object_id]))

        return view


@admin.register(SystemScheduledJob)
class SystemScheduleAdmin(_ScheduleAdmin):
    kind = ScheduleKind.SYSTEM
    list_display = ("name", "starts", "when", "state", "next_run_at", "last_fired_at", "last_outcome",
                    "last_job_link")
    list_filter = (StateFilter, "last_outcome")
    search_fields = ("name", "job_type", "task")
    ordering = ("name",)
    detail_fields = ("name", "description", "controls", "starts", "when", "state", "enabled", "paused", "overlap",
                     "catch_up", "input", "next_run_at", "next_runs", "last_run_at", "last_fired_at", "last_outcome",
                     "last_message", "last_job_link", "run_count", "beat_task", "updated_at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a system schedule leaves with the code's list (sync_schedules)


@admin.register(UserScheduledJob)
class UserScheduleAdmin(_ScheduleAdmin):
    kind = ScheduleKind.USER
    list_display = ("name", "owner", "organization", "starts", "when", "state", "next_run_at", "last_fired_at",
                    "last_outcome", "last_job_link")
    list_filter = (StateFilter, "frequency", "last_outcome")
    list_select_related = ("owner", "organization", "last_job")
    search_fields = ("name", "job_type", "owner__username", "organization__slug")
    ordering = ("name", "pk")
    detail_fields = ("name", "description", "controls", "owner", "organization", "starts", "when", "state",
                     "enabled", "paused", "overlap", "catch_up", "input", "next_run_at", "next_runs", "last_run_at",
                     "last_fired_at", "last_outcome", "last_message", "last_job_link", "run_count", "beat_task",
                     "created_at", "updated_at")

    def delete_model(self, request: HttpRequest, obj: ScheduledJob) -> None:
        services.schedule_delete(schedule=obj, by=_by(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ScheduledJob]) -> None:
        for schedule in queryset:
            services.schedule_delete(schedule=schedule, by=_by(request))


def _by(request: HttpRequest) -> Actor:
    return Actor.from_request(request, Source.ADMIN)
