"""The rules an event about one job concerns: enabled, of that event, and whose scope (each of
organization, project, job type and queue, where the rule names one) contains the job."""
from __future__ import annotations

from django.db.models import Q, QuerySet

from notifications.kinds import is_own_type
from notifications.models import Rule


def _optional(field: str, value: object) -> Q:
    """The rule names no value here, or names this one."""
    empty = Q(**{f"{field}__isnull": True}) if field.endswith("_id") else Q(**{field: ""})
    return empty | Q(**{field: value}) if value not in (None, "") else empty


def rules_for_job(*, event: str, job_type: str, queue: str, organization_id: int | None,
                  project_id: int | None) -> QuerySet[Rule]:
    """The enabled rules of `event` whose scope contains this job; none for this app's own jobs
    (a delivery's failure must not notify about itself)."""
    if is_own_type(job_type):
        return Rule.objects.none()
    return Rule.objects.filter(
        _optional("organization_id", organization_id), _optional("project_id", project_id),
        _optional("job_type", job_type), _optional("queue", queue), enabled=True, event=event,
    ).order_by("pk")
