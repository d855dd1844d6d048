"""The job page (the admin's change view of a Job): what an operator reads to follow one job.

From the top: the status with cancel and retry, the Flower link and the times; "why is this
job not running?" for a queued job (`jobs.selectors.why`); the progress bar and message; the
input and result, pretty-printed, as the viewer may see them (`jobs.selectors.payload`); the
last error; the timeline of every attempt, rescue, cancel request and operator action
(`jobs.selectors.timeline`); the handler's last log lines (`jobs.selectors.log_lines`); and
the row's remaining fields, read-only. The moving parts are live regions that
console/live.js swaps in every few seconds (jobs/templates/admin/jobs/job/change_form.html).

Nothing here writes: the buttons post to the cancel and retry views (`jobs.admin.actions`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from jobs import presenters
from jobs.models import Job, JobAttempt
from jobs.selectors.log_lines import JobLogLines, job_log_lines
from jobs.selectors.payload import VisiblePayload, visible_payload
from jobs.selectors.timeline import Event, job_timeline
from jobs.selectors.why import Reason, why_not_running
from jobs.services import permissions
from jobs.states import ACTION_FROM, JobStatus

# a longer pretty-printed input or result is cut: a 1 MB payload would make the page unusable
JSON_SHOWN_CHARS = 20_000


@dataclass(frozen=True)
class Button:
    label: str
    url: str


@dataclass
class JobPage:
    """What the template draws, read once per request."""

    job: Job
    payload: VisiblePayload
    input_json: str
    result_json: str
    buttons: list[Button]
    flower_url: str
    flower_note: str
    reasons: list[Reason]
    timeline: list[dict[str, Any]]
    log: JobLogLines | None
    facts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def blocking(self) -> list[Reason]:
        return [reason for reason in self.reasons if reason.blocking]

    @property
    def notes(self) -> list[Reason]:
        return [reason for reason in self.reasons if not reason.blocking]


def pretty_json(value: Any, limit: int = JSON_SHOWN_CHARS) -> str:
    """The value as indented JSON, cut at `limit` characters with a note of what was left out."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    if len(text) > limit:
        text = text[:limit] + f"\n... ({len(text) - limit:,} more characters)"
    return text


class JobPageMixin(admin.ModelAdmin):
    """The job page's parts for JobAdmin: its template, its read-only fields and its context."""

    change_form_template = "admin/jobs/job/change_form.html"
    inlines = ()
    # what the page's own sections do not already show
    fieldsets = (
        ("Job", {"fields": ("id", "type", "queue", "priority", "dedup_key", "concurrency_key", "gate", "worker",
                            "token")}),
        ("Owner", {"fields": ("created_by", "organization", "project")}),
        ("Times", {"fields": ("created_at", "queued_at", "run_at", "dispatched_at", "started_at", "heartbeat_at",
                              "completed_at", "cancel_requested_at", "expires_at", "updated_at",
                              "estimated_duration", "page_duration", "rescues")}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [str(name) for _, options in self.fieldsets for name in options["fields"]]

    @admin.display(description="duration")
    def page_duration(self, job: Job) -> str:
        return presenters.format_duration(job.actual_duration)

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], add: bool = False,
                           change: bool = False, form_url: str = "", obj: Any = None) -> HttpResponse:
        if isinstance(obj, Job):
            context["job_page"] = self.job_page(request, obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def job_page(self, request: HttpRequest, job: Job) -> JobPage:
        payload = visible_payload(job, request.user)
        attempts = list(JobAttempt.objects.filter(job_id=job.pk).order_by("number"))
        flower_url, flower_note = _flower(job)
        return JobPage(
            job=job,
            payload=payload,
            input_json=pretty_json(payload.input) if payload.shown else "",
            result_json=pretty_json(payload.result) if payload.shown and payload.result is not None else "",
            buttons=self._buttons(request, job),
            flower_url=flower_url,
            flower_note=flower_note,
            reasons=why_not_running(job=job),
            timeline=[_row(event) for event in job_timeline(job=job, attempts=attempts)],
            log=job_log_lines(job_id=job.pk) if payload.shown else None,
            facts=_facts(job),
        )

    def _buttons(self, request: HttpRequest, job: Job) -> list[Button]:
        # each by its own permission; the services check it again (and a job's owner may act
        # through the API, not here: the console is the operators')
        buttons = []
        if job.status in ACTION_FROM["cancel"] and request.user.has_perm(permissions.PERMISSION["cancel"]):
            buttons.append(Button("Cancel job", reverse("admin:jobs_job_cancel", args=[job.pk])))
        if job.status in ACTION_FROM["retry"] and request.user.has_perm(permissions.PERMISSION["retry"]):
            buttons.append(Button("Retry job", reverse("admin:jobs_job_retry", args=[job.pk])))
        return buttons


def _flower(job: Job) -> tuple[str, str]:
    """(the Flower URL of the job's current task, or "", and what to say beside it)."""
    # the task id is derived from the job id and its current token, the message's own
    # arguments: nothing extra is stored per publish
    if job.status == JobStatus.QUEUED and job.dispatched_at is None:
        return "", ("no message yet: the job waits in the database (for its run time, a free slot of its limit, "
                    "or a pause)")
    return (f"{settings.FLOWER_URL}/task/{job.current_task_id}",
            "in Flower (the current message; for the tasks of earlier attempts, search the job id in the Tasks "
            "tab of Flower)")


def _facts(job: Job) -> list[tuple[str, str]]:
    """The header's short facts, in reading order."""
    facts = [("attempts", f"{job.attempts} of {job.max_attempts}"), ("queue", job.queue),
             ("priority", str(job.priority))]
    if job.worker:
        facts.append(("worker", job.worker))
    if job.actual_duration is not None:
        facts.append(("duration", presenters.format_duration(job.actual_duration)))
    if job.rescues:
        facts.append(("rescues", str(job.rescues)))
    return facts


def _row(event: Event) -> dict[str, Any]:
    """A timeline event with its display strings."""
    return {
        "event": event,
        "duration": presenters.format_duration(event.duration) if event.duration is not None else "",
    }
