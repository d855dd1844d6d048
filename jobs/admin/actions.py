"""Cancel and retry from the admin: the list's actions on the selected rows, the "all matching"
pages (`jobs.admin.bulk`) and the change page's buttons. Each goes through `jobs.services`
(the state table's guarded UPDATEs, the permission checks, the audit log) and reports what
changed and, grouped by reason, what was refused; nothing else in the admin writes a Job.

One job (a button, or one selected row) is `job_cancel` / `job_retry`; several selected rows are
a bulk action (`jobs_cancel_bulk` / `jobs_retry_bulk`), which also needs jobs.bulk_job for jobs
that are not one's own, at most JOBS_CONSOLE_BULK_MAX of them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from audit.actors import Actor, Source
from jobs import selectors, services
from jobs.admin import bulk
from jobs.errors import ConveyorError
from jobs.models import Job
from jobs.selectors.search import job_ids_for_bulk, jobs_running_among
from jobs.services import permissions
from jobs.states import JobStatus


class JobActionForm(helpers.ActionForm):
    """The list's action bar, with the reason that the audit log keeps."""

    reason = forms.CharField(
        label="Reason:", required=False, max_length=bulk.REASON_MAX_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "kept in the audit log", "size": 28}),
    )


class JobActionsMixin(admin.ModelAdmin):
    """Cancel and retry for JobAdmin: actions, per-job views, the bulk pages and their URLs."""

    action_form = JobActionForm

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.PERMISSION["cancel"])

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.PERMISSION["retry"])

    def has_bulk_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.PERMISSION["bulk"])

    def has_operate_permission(self, request: HttpRequest) -> bool:
        """May cancel or retry jobs (each button shows by its own permission)."""
        return self.has_cancel_permission(request) or self.has_retry_permission(request)

    def bulk_links(self, request: HttpRequest) -> dict[str, str]:
        """The "all matching" pages this person may open, by action, for the list's filters."""
        if not self.has_bulk_permission(request):
            return {}
        return {action: bulk.bulk_url(action, request) for action in bulk.ACTIONS
                if getattr(self, f"has_{action}_permission")(request)}

    @admin.action(description="Cancel selected jobs", permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.act_on_selection(request, queryset, "cancel")

    @admin.action(description="Retry selected jobs", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.act_on_selection(request, queryset, "retry")

    def act_on_selection(self, request: HttpRequest, queryset: QuerySet[Job], verb: str) -> None:
        # ids only: each service call reads and writes the row itself, under its own guard
        cap = bulk.bulk_max()
        job_ids, more = job_ids_for_bulk(queryset=queryset, action=None, limit=cap)
        if more:
            self.message_user(request, f"More than {cap:,} jobs selected: nothing was done. Use "
                                       f"\"{verb.capitalize()} all matching...\" for a larger set.", messages.ERROR)
            return
        if len(job_ids) == 1:
            single = services.job_cancel if verb == "cancel" else services.job_retry
            self.apply_to_jobs(request, job_ids, single, verb)
            return
        outcome = bulk.bulk_service(verb)(job_ids=job_ids, by=self.actor(request))
        asked = jobs_running_among(job_ids=outcome.changed) if verb == "cancel" else 0
        bulk.report_outcome(self, request, verb, changed=len(outcome.changed), asked_to_stop=asked,
                            refused=outcome.refused)

    def actor(self, request: HttpRequest) -> Actor:
        reason = str(request.POST.get("reason", "")).strip()[: bulk.REASON_MAX_LENGTH]
        return Actor.from_request(request, Source.ADMIN, reason=reason)

    def apply_to_jobs(
        self, request: HttpRequest, job_ids: Iterable[Any], service: Callable[..., Job], verb: str
    ) -> None:
        """Call the service per job; one message for what changed and one per refusal reason."""
        changed: list[Job] = []
        refused: list[tuple[Any, ConveyorError]] = []
        by = self.actor(request)
        for job_id in job_ids:
            try:
                job = service(job_id=job_id, by=by)
            except ConveyorError as exc:
                refused.append((job_id, exc))
                continue
            changed.append(job)
            self.log_change(request, job, f"{verb} via the admin: now {job.status}")
        asked = sum(1 for job in changed if job.status == JobStatus.RUNNING) if verb == "cancel" else 0
        bulk.report_outcome(self, request, verb, changed=len(changed), asked_to_stop=asked, refused=refused)

    def get_urls(self) -> list[Any]:
        urls = [
            # before "<object_id>/cancel/", which would read "bulk" as a job id
            path("bulk/<str:action>/", self.admin_site.admin_view(self.bulk_view), name="jobs_job_bulk"),
            path("<path:object_id>/cancel/", self.admin_site.admin_view(self.cancel_view), name="jobs_job_cancel"),
            path("<path:object_id>/retry/", self.admin_site.admin_view(self.retry_view), name="jobs_job_retry"),
        ]
        return urls + super().get_urls()

    def bulk_view(self, request: HttpRequest, action: str) -> HttpResponse:
        return bulk.bulk_view(self, request, action)

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
