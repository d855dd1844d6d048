"""Cancel and retry from the admin: the list's actions and the change page's buttons. Each
calls `jobs.services` one job at a time (the state table's guarded UPDATEs) and reports what
changed and what was refused; nothing else in the admin writes a Job."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from audit.actors import Actor, Source
from jobs import selectors, services
from jobs.errors import ConveyorError
from jobs.models import Job
from jobs.services import permissions
from jobs.states import JobStatus

MAX_ERRORS_LISTED = 10


class JobActionsMixin(admin.ModelAdmin):
    """Cancel and retry for JobAdmin: actions, per-job views and their URLs."""

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.PERMISSION["cancel"])

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.PERMISSION["retry"])

    def has_operate_permission(self, request: HttpRequest) -> bool:
        """May cancel or retry jobs (each button shows by its own permission)."""
        return self.has_cancel_permission(request) or self.has_retry_permission(request)

    @admin.action(description="Cancel selected jobs", permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.apply_to_jobs(request, _ids(queryset), services.job_cancel, "cancel")

    @admin.action(description="Retry selected jobs", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.apply_to_jobs(request, _ids(queryset), services.job_retry, "retry")

    def apply_to_jobs(
        self, request: HttpRequest, job_ids: Iterable[Any], service: Callable[..., Job], verb: str
    ) -> None:
        """Call the service per job; one message for what changed and one for what failed."""
        changed: list[Job] = []
        failures: list[str] = []
        by = Actor.from_request(request, Source.ADMIN, reason=str(request.POST.get("reason", ""))[:1000])
        for job_id in job_ids:
            try:
                job = service(job_id=job_id, by=by)
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
        if not getattr(self, f"has_{verb}_permission")(request):
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
