"""The job list's search: what an operator types (and the time range in the URL) read into
filters, and those filters applied to a queryset of jobs.

    parse_search(text)           the words typed, as a JobSearch (`jobs.selectors.search_syntax`:
                                 no database; SearchError names every bad word at once)
    parse_time_range(gte, lt)    the URL's created__gte / created__lt, as aware datetimes
    search_jobs(queryset, search)  the queryset narrowed to the search, and how far the
                                 filters that read rows looked
    job_ids_for_bulk(...)        the ids a bulk action over the matching jobs would touch

The words, all combinable (AND between words; a repeated key, or values separated by commas,
match any of them):

    3f2a9c           a job id, or its first characters (at least 4 hex digits)
    type:demo.sleep  status:failed  queue:default  org:acme (slug or id)  project:12  by:alice
    dedup:attachment-42  (dedup:attachment-* for a prefix)
    error:"disk full"    (the error text contains it, any case)
    group:<32 hex digits>  (the failure group of the job's last error, as the failure groups link)
    input.customer_id=42 (an input field equals it: 42 matches the number and the string "42";
                          a quoted value, input.customer_id="42", matches the string only)

Speed at millions of rows. Ids are a range of the primary key, never a LIKE on text; status,
type, organization, project, creator and the time range each have an index that starts with
the column and goes on with created_at, the list's order; dedup keys and failure groups have
theirs. Queue, error text and input fields have none (an index per JSON field, or a trigram
index on the errors, would tax every write of every job): with one of them, the search looks only at the newest
JOBS_CONSOLE_SCAN_ROWS jobs (of the time range, when one is given), a range of the
created_at index, and says so.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTransform

from jobs.errors import JobValidationError
from jobs.models import Job
from jobs.selectors.search_syntax import (
    KEYS,
    MIN_ID_PREFIX,
    IdRange,
    InputMatch,
    JobSearch,
    SearchError,
    id_range,
    parse_search,
    parse_time_range,
)
from jobs.selectors.tenancy import organization_find, project_find, user_find
from jobs.states import ACTION_FROM

__all__ = [
    "KEYS", "MIN_ID_PREFIX", "IdRange", "InputMatch", "JobSearch", "SearchError", "SearchResult",
    "id_range", "job_ids_for_bulk", "jobs_running_among", "parse_search", "parse_time_range", "scan_floor",
    "scan_rows_setting", "search_jobs",
]



@dataclass(frozen=True)
class SearchResult:
    """The narrowed queryset; `scanned_since` is set when the filters that read rows looked
    only at the newest `scan_rows` jobs, created since then."""

    queryset: QuerySet[Job]
    scan_rows: int | None = None
    scanned_since: datetime | None = None


# --- applying them ----------------------------------------------------------------------------


def scan_rows_setting() -> int:
    """JOBS_CONSOLE_SCAN_ROWS: how many of the newest jobs a filter without an index reads."""
    return int(settings.JOBS_CONSOLE_SCAN_ROWS)  # config/settings.py reads and checks it


def search_jobs(queryset: QuerySet[Job], search: JobSearch, *, scan_rows: int | None = None) -> SearchResult:
    """`queryset` narrowed to `search`. Organizations, projects and creators are looked up by
    what was typed (SearchError names each one not found). With a filter that reads rows, only
    the newest `scan_rows` jobs (JOBS_CONSOLE_SCAN_ROWS by default) of the time range are read:
    the result then says since when."""
    qs, problems = _indexed(queryset, search)
    if problems:
        raise SearchError(problems)
    if not search.reads_rows:
        return SearchResult(queryset=qs)
    rows = scan_rows or scan_rows_setting()
    since = scan_floor(search, rows)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return SearchResult(queryset=_row_filters(qs, search), scan_rows=rows if since is not None else None,
                        scanned_since=since)


def _indexed(qs: QuerySet[Job], search: JobSearch) -> tuple[QuerySet[Job], list[str]]:
    problems: list[str] = []
    if search.ids:
        ranges = Q()
        for span in search.ids:
            ranges |= Q(pk=span.low) if span.low == span.high else Q(pk__gte=span.low, pk__lte=span.high)
        qs = qs.filter(ranges)
    if search.statuses:
        qs = qs.filter(status__in=list(search.statuses))
    if search.types:
        qs = qs.filter(type__in=list(search.types))
    if search.dedup_keys:  # job_dedup_key_idx serves a key and a prefix alike
        keys = Q()
        for key in search.dedup_keys:
            keys |= Q(dedup_key__startswith=key[:-1]) if key.endswith("*") else Q(dedup_key=key)
        qs = qs.filter(keys)
    if search.error_groups:  # the failure groups' index serves it
        qs = qs.filter(error_group__in=[group.lower() for group in search.error_groups])
    for name, column, find in (("org", "organization", lambda ref: organization_find(ref=ref)),
                               ("project", "project", lambda ref: project_find(project_id=ref)),
                               ("by", "created_by", lambda ref: user_find(username=ref))):
        refs = {"org": search.orgs, "project": search.projects, "by": search.creators}[name]
        if not refs:
            continue
        found = []
        for ref in refs:
            row = find(ref)
            if row is None:
                problems.append(f"{name}:{ref}: {_NOT_FOUND[name]}")
            else:
                found.append(row.pk)
        qs = qs.filter(**{f"{column}_id__in": found})
    if search.created_gte is not None:
        qs = qs.filter(created_at__gte=search.created_gte)
    if search.created_lt is not None:
        qs = qs.filter(created_at__lt=search.created_lt)
    return qs, problems


_NOT_FOUND = {
    "org": "no organization has this slug or id",
    "project": "no project has this id",
    "by": "no user has this username",
}


def scan_floor(search: JobSearch, rows: int) -> datetime | None:
    """The creation time of the `rows`-th newest job of the search's time range (None when
    the range holds fewer): reading back that far in the created_at index alone."""
    newest = Job.objects.order_by("-created_at")
    if search.created_gte is not None:
        newest = newest.filter(created_at__gte=search.created_gte)
    if search.created_lt is not None:
        newest = newest.filter(created_at__lt=search.created_lt)
    return newest.values_list("created_at", flat=True)[rows - 1 : rows].first()


def _row_filters(qs: QuerySet[Job], search: JobSearch) -> QuerySet[Job]:
    if search.queues:
        qs = qs.filter(queue__in=list(search.queues))
    for text in search.errors:
        qs = qs.filter(error__icontains=text)
    for number, match in enumerate(search.inputs):
        # an alias, so that a field named like a lookup ("contains") is still a key
        alias = f"search_input_{number}"
        value: Any = "input"
        for key in match.path:
            value = KeyTransform(key, value)
        either = Q()
        for candidate in match.candidates():
            either |= Q(**{alias: candidate})  # None: a JSON null, not a missing key
        qs = qs.alias(**{alias: value}).filter(either)
    return qs


# --- bulk actions ---------------------------------------------------------------------------------


def job_ids_for_bulk(*, queryset: QuerySet[Job], action: str | None, limit: int) -> tuple[list[uuid.UUID], bool]:
    """The ids of the jobs of `queryset` (in its order) that are in a status `action` starts
    from (any status for None: the services then say why they refuse the others), at most
    `limit`; and whether more matched. Reads limit + 1 ids and no more."""
    qs = queryset
    if action is not None:
        if action not in ACTION_FROM:
            raise JobValidationError("action", f"must be one of {', '.join(ACTION_FROM)}, got {action!r}")
        # sorted: a frozenset's order changes between processes, and the statement should not
        qs = qs.filter(status__in=sorted(ACTION_FROM[action]))
    ids = list(qs.values_list("pk", flat=True)[: limit + 1])
    return ids[:limit], len(ids) > limit


def jobs_running_among(*, job_ids: list[uuid.UUID]) -> int:
    """How many of these jobs are running (after a bulk cancel: those asked to stop)."""
    return Job.objects.filter(pk__in=job_ids, status="running").count() if job_ids else 0
