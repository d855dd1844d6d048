"""The job list's filters. Their choices come from the handler registry and the settings, never
from a SELECT DISTINCT over the table."""
from __future__ import annotations

from typing import cast

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from handlers.registry import all_handlers, registered_types
from jobs import selectors
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
    parameter_name = "queue"
    field = "queue"

    def choices_from_registry(self) -> list[str]:
        return sorted({spec.queue for spec in all_handlers()} | {conf.default_queue})
