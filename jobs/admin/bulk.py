"""Cancel or retry every job that matches the job list's filters ("Cancel all matching...",
"Retry all matching..."), and how every cancel or retry of the admin reports its outcome.

    1. GET bulk/<action>/?<the list's query>: a confirmation page with the filters, how many jobs
       the action touches (exact up to the cap, JOBS_CONSOLE_BULK_MAX), and a reason to type.
    2. POST to the same URL: the jobs are selected again (what matches now, not at the preview),
       at most the cap of them, first in the list's order (newest first); the services' bulk
       verb acts on each one under its own guard and permission check and writes the audit log;
       the list opens again with its filters and says how many changed and, per reason, how
       many were refused (with a few of them, linked).

The page needs jobs.bulk_job and the action's own permission (403 otherwise; the list hides the
links), and the services check both again for every job.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from audit.actors import Actor, Source
from jobs import services
from jobs.admin.job_list import RANGE_PARAMETERS, list_search
from jobs.errors import ConveyorError
from jobs.selectors.search import job_ids_for_bulk, jobs_running_among

REASON_MAX_LENGTH = 1000
EXAMPLES_PER_REFUSAL = 5
# the parameters of a list page that are not filters
_NOT_FILTERS = ("p", "e", "all", "_changelist_filters")

# what each action is called on the page, and the statuses it acts on
ACTIONS: dict[str, dict[str, str]] = {
    "cancel": {"title": "Cancel", "done": "cancelled", "statuses": "queued or running (running jobs are asked to stop "
                                                                   "at their next progress report)"},
    "retry": {"title": "Retry", "done": "queued again", "statuses": "failed or cancelled"},
}


def bulk_max() -> int:
    """JOBS_CONSOLE_BULK_MAX: the most jobs one bulk action of the console touches."""
    return int(settings.JOBS_CONSOLE_BULK_MAX)  # config/settings.py reads and checks it


def bulk_service(action: str) -> Callable[..., services.BulkOutcome]:
    # looked up on each call: the services package is the one place that names them
    return services.jobs_cancel_bulk if action == "cancel" else services.jobs_retry_bulk


def filters_query(request: HttpRequest) -> str:
    """The list's query string without its page: what "all matching" means."""
    query: QueryDict = request.GET.copy()
    for name in _NOT_FILTERS:
        query.pop(name, None)
    return query.urlencode()


def bulk_url(action: str, request: HttpRequest) -> str:
    query = filters_query(request)
    return reverse("admin:jobs_job_bulk", args=[action]) + (f"?{query}" if query else "")


# --- reporting an outcome -------------------------------------------------------------------------


@dataclass(frozen=True)
class RefusalGroup:
    """The jobs refused for one reason: how many, and the first few of them."""

    reason: str
    count: int
    job_ids: list[uuid.UUID]


def refusal_reason(job_id: Any, error: ConveyorError) -> str:
    """The error's message without the job's id, so that the refusals of many jobs for one
    reason read as one ("the job is completed and cannot become cancelled")."""
    text = str(error)
    for form in (f"job {job_id}", str(job_id)):
        text = text.replace(form, "the job")
    return text


def group_refusals(refused: Sequence[tuple[Any, ConveyorError]]) -> list[RefusalGroup]:
    """Refusals grouped by reason, the largest group first."""
    groups: dict[str, list[uuid.UUID]] = {}
    for job_id, error in refused:
        groups.setdefault(refusal_reason(job_id, error), []).append(job_id)
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    return [RefusalGroup(reason=reason, count=len(ids), job_ids=ids[:EXAMPLES_PER_REFUSAL])
            for reason, ids in ordered]


def report_outcome(
    model_admin: admin.ModelAdmin, request: HttpRequest, verb: str, *, changed: int, asked_to_stop: int = 0,
    refused: Sequence[tuple[Any, ConveyorError]] = (),
) -> None:
    """One message for what changed, and one per reason something was refused."""
    if changed:
        if verb == "cancel":
            text = f"Cancelled {changed - asked_to_stop} job(s)."
            if asked_to_stop:
                text += f" Asked {asked_to_stop} running job(s) to stop at their next progress report."
        else:
            text = f"Queued {changed} job(s) again."
        model_admin.message_user(request, text, messages.SUCCESS)
    first = {job_id: str(error) for job_id, error in refused}
    for group in group_refusals(refused):
        model_admin.message_user(request, _refusal_message(verb, group, first[group.job_ids[0]]), messages.ERROR)


def _refusal_message(verb: str, group: RefusalGroup, example: str) -> str:
    """One job: the service's own message, which names it. Several: the reason once, then a
    few of them linked to their pages."""
    if group.count == 1:
        return f"Could not {verb} 1 job(s): {example}"
    links = format_html_join(", ", '<a href="{}">{}</a>', (
        (reverse("admin:jobs_job_change", args=[job_id]), str(job_id)[:8]) for job_id in group.job_ids))
    more = f", and {group.count - len(group.job_ids)} more" if group.count > len(group.job_ids) else ""
    return format_html("Could not {} {} job(s): {} ({}{})", verb, group.count, group.reason, links, more)


# --- the confirmation page -----------------------------------------------------------------------


def bulk_view(model_admin: Any, request: HttpRequest, action: str) -> HttpResponse:
    """The "all matching" confirmation page (GET) and the action itself (POST)."""
    if action not in ACTIONS:
        raise Http404(f"no bulk action {action!r}; there are {', '.join(ACTIONS)}")
    if not (model_admin.has_view_or_change_permission(request) and model_admin.has_bulk_permission(request)
            and getattr(model_admin, f"has_{action}_permission")(request)):
        raise PermissionDenied
    list_url = reverse("admin:jobs_job_changelist")
    query = filters_query(request)
    back = f"{list_url}?{query}" if query else list_url
    try:
        changelist = model_admin.get_changelist_instance(request)
    except IncorrectLookupParameters:
        model_admin.message_user(request, "These filters cannot be read: choose them again on the list.",
                                 messages.ERROR)
        return HttpResponseRedirect(list_url)
    state = list_search(request)
    cap = bulk_max()
    ids: list[uuid.UUID] = []
    more = False
    if not state.problems:
        ids, more = job_ids_for_bulk(queryset=changelist.queryset, action=action, limit=cap)
    reason = str(request.POST.get("reason", "")).strip()
    reason_error = ""
    if request.method == "POST" and not state.problems:
        if not reason:
            reason_error = "Type the reason for this action: it is kept in the audit log with your name."
        elif len(reason) > REASON_MAX_LENGTH:
            reason_error = f"The reason is {len(reason)} characters long; at most {REASON_MAX_LENGTH}, please."
        else:
            actor = Actor.from_request(request, Source.ADMIN, reason=reason)
            outcome = bulk_service(action)(job_ids=ids, by=actor)
            asked = jobs_running_among(job_ids=outcome.changed) if action == "cancel" else 0
            report_outcome(model_admin, request, action, changed=len(outcome.changed), asked_to_stop=asked,
                           refused=outcome.refused)
            if more:
                model_admin.message_user(request, f"More than {cap:,} jobs matched: this acted on the first {cap:,} in "
                                                  "the list's order. Run it again for the rest.", messages.WARNING)
            if not outcome.changed and not outcome.refused:
                model_admin.message_user(request, f"No job to {action}: none matches now.", messages.INFO)
            return HttpResponseRedirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"{ACTIONS[action]['title']} all matching jobs",
        "action": action,
        "words": ACTIONS[action],
        "state": state,
        "filters": _filters_shown(request),
        "count": len(ids),
        "more": more,
        "cap": cap,
        "reason": reason,
        "reason_error": reason_error,
        "reason_max_length": REASON_MAX_LENGTH,
        "back_url": back,
        "sample": ids[:EXAMPLES_PER_REFUSAL],
    }
    return TemplateResponse(request, "admin/jobs/job/bulk_confirm.html", context,
                            status=400 if reason_error or state.problems else 200)


def _filters_shown(request: HttpRequest) -> list[tuple[str, str]]:
    """The list's filters other than the search words and the time range, as name and value."""
    skipped = {*_NOT_FILTERS, "q", "o", *RANGE_PARAMETERS}
    return [(name, value) for name, values in sorted(request.GET.lists()) if name not in skipped
            for value in values]

