"""The job list's filters. Their choices come from the handler registry and the settings, never
from a SELECT DISTINCT over the table.

The queue and the time range are applied by the list's search (`jobs.admin.job_list`), not
here: the queue has no index, so it is read from the newest jobs only, and how far back that
goes depends on the time range. These two filters draw the choices and claim their parameters.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any, cast

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from handlers.registry import all_handlers, registered_types
from jobs import selectors
from jobs.admin.job_list import QUEUE_PARAMETER, RANGE_PARAMETERS, list_search
from jobs.conf import conf
from jobs.models import Job


class StuckFilter(admin.SimpleListFilter):
    """Jobs that look stuck, by the Job queryset's own predicates (`jobs.selectors.stuck`):
    `stale(now)`, the running jobs the rescuer requeues, and `unclaimed(now)`, the queued
    jobs the sweeper acts on. Whatever the settings, the filter lists what recovery sees."""

    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("stale", f"Running, no heartbeat for {conf.heartbeat_timeout:g}s"),
            ("unclaimed", f"Queued, unclaimed for {conf.sweep_unclaimed_after:g}s or its message lost"),
            ("any", "Either"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        if self.value() in ("stale", "unclaimed", "any"):
            return selectors.stuck_jobs(kind=cast(selectors.StuckKind, self.value()), queryset=queryset)
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
        return registered_types()


class QueueFilter(_RegistryFilter):
    title = "queue"
    parameter_name = QUEUE_PARAMETER
    field = "queue"

    def choices_from_registry(self) -> list[str]:
        return sorted({spec.queue for spec in all_handlers()} | {conf.default_queue})

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        return queryset  # applied by the search, bounded with the other filters without an index


# the time range's shortcuts: the jobs created in the last ...
RANGE_PRESETS = (("Last hour", timedelta(hours=1)), ("Last 24 hours", timedelta(days=1)),
                 ("Last 7 days", timedelta(days=7)))


class CreatedRangeFilter(admin.ListFilter):
    """The jobs created in a time range: `created__gte` and `created__lt`, ISO 8601 (the overview's
    chart links with exactly these). Shows the active range, a way to clear it, and shortcuts."""

    title = "created"

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        for name in RANGE_PARAMETERS:
            if name in params:
                value = params.pop(name)
                self.used_parameters[name] = value[-1] if isinstance(value, list) else value

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return list(RANGE_PARAMETERS)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        return queryset  # applied by the search: it bounds how far back the unindexed filters read

    def choices(self, changelist: ChangeList) -> Iterator[dict[str, Any]]:
        yield {"selected": not self.used_parameters, "display": "Any time",
               "query_string": changelist.get_query_string(remove=list(RANGE_PARAMETERS))}
        # whole minutes: the same link for a minute, and a URL that reads well
        now = timezone.now().astimezone(UTC).replace(second=0, microsecond=0)
        for label, span in RANGE_PRESETS:
            since = (now - span).isoformat().replace("+00:00", "Z")
            yield {"selected": False, "display": label,
                   "query_string": changelist.get_query_string({"created__gte": since}, remove=["created__lt"])}
        if self.used_parameters:
            state = list_search(self.request)
            shown = " ".join(part for part in (
                f"from {state.since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if state.since else "",
                f"until {state.until.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if state.until else "") if part)
            yield {"selected": True, "display": shown or "(a range that cannot be read)",
                   "query_string": changelist.get_query_string()}
