"""One page of a job list, with its total: the rows, an exact count up to a cap, and
PostgreSQL's estimate beyond it (an exact COUNT of a million rows takes longer than a page
should; above a few thousand, "about 80,000" is what a list needs).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.models import Q, QuerySet

from jobs.errors import JobValidationError
from jobs.models import Job
from jobs.selectors.access import is_person, memberships_of
from jobs.selectors.reads import (
    MAX_LIST_LIMIT,
    ORDERABLE_FIELDS,
    UNSCOPED,
    filter_jobs,
    job_queryset,
    member_asking_about_own_org,
)
from jobs.storage import queries
from jobs.validation import int_in_range


@dataclass(frozen=True)
class JobPage:
    """One page of a job list: the rows, how many match the filters in all, and whether more
    follow this page.

    `total` is exact when `total_is_exact`; otherwise more rows matched than the list's
    `exact_total_max` and `total` is PostgreSQL's estimate, kept within what the page itself
    proves (more than the cap, at least the rows up to the end of this page, and no more than
    `offset` when the page is empty). `has_next` is always exact.
    """

    items: list[Job]
    total: int
    limit: int
    offset: int
    has_next: bool = False
    total_is_exact: bool = True

    def __iter__(self) -> Iterator[Job]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def job_list(
    *,
    statuses: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    created_by: Any = None,
    organization: Any = None,
    project: Any = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    order_by: str = "created_at",
    direction: str = "desc",
    limit: int = 50,
    offset: int = 0,
    visible_to: Any = UNSCOPED,
    memberships: dict[int, str] | None = None,
    exact_total_max: int | None = None,
) -> JobPage:
    """One page of jobs matching every given filter, newest first by default.

    The rows (with creator, organization and project joined) are read with one more than the
    page, so `has_next` is exact and a last page needs no count at all. Otherwise the total is
    counted: exactly when `exact_total_max` is None or 0; else exactly up to `exact_total_max`
    rows (a COUNT over a LIMITed subquery, which stops there), and beyond that it is
    PostgreSQL's row estimate for the filters (`total_is_exact` False). Databases without an
    estimate (SQLite) count exactly. A user who is not staff sees their own jobs OR their
    organizations': the two are counted apart, each from one index (`_visibility_parts`). At
    most four queries whatever the page size: rows, capped count (two for such a user),
    estimate. Raises JobValidationError naming the bad argument.
    """
    _check_page(order_by=order_by, direction=direction, limit=limit, offset=offset)
    if memberships is None and visible_to is not UNSCOPED and is_person(visible_to) and not visible_to.is_staff:
        memberships = memberships_of(user=visible_to)  # once, for the rows and the count
    filters: dict[str, Any] = {"statuses": statuses, "types": types, "created_by": created_by,
                               "organization": organization, "project": project,
                               "created_after": created_after, "created_before": created_before}
    qs = job_queryset(**filters, visible_to=visible_to, memberships=memberships)
    sign = "-" if direction == "desc" else ""
    # the primary key breaks ties so that offsets never skip or repeat a row between pages
    ordered = qs.order_by(f"{sign}{order_by}", f"{sign}pk")
    rows = list(ordered[offset : offset + limit + 1])
    items, has_next = rows[:limit], len(rows) > limit
    if not has_next and (items or offset == 0):
        # the last page (or an empty list): the rows up to its end are all there are
        return JobPage(items=items, total=offset + len(items), limit=limit, offset=offset, has_next=False)
    parts = _visibility_parts(visible_to=visible_to, organization=organization, memberships=memberships)
    if parts is None:  # nothing to split: the list's own query, counted as one part
        base, parts = qs, [Q()]
    else:
        base = filter_jobs(Job.objects.all(), **filters)
    total, exact = _count(base, parts, whole=qs, cap=exact_total_max)
    if not exact:
        total = _bounded_estimate(total, cap=exact_total_max, offset=offset, shown=len(items), has_next=has_next)
    return JobPage(items=items, total=total, limit=limit, offset=offset, has_next=has_next, total_is_exact=exact)


def _check_page(*, order_by: str, direction: str, limit: Any, offset: Any) -> None:
    if order_by not in ORDERABLE_FIELDS:
        choices = ", ".join(sorted(ORDERABLE_FIELDS))
        raise JobValidationError("order_by", f"cannot order by {order_by!r}; choose one of {choices}")
    if direction not in ("asc", "desc"):
        raise JobValidationError("direction", f"must be 'asc' or 'desc', got {direction!r}")
    int_in_range("limit", limit, 1, MAX_LIST_LIMIT)
    int_in_range("offset", offset, 0)


def _bounded_estimate(estimate: int, *, cap: int | None, offset: int, shown: int, has_next: bool) -> int:
    """The estimate, which may be off either way, kept within what the page itself proves:
    more than the cap, at least the rows up to the end of this page, and fewer than `offset`
    when the page is empty (past the end)."""
    floor = (cap or 0) + 1
    if shown:
        return max(estimate, floor, offset + shown + int(has_next))
    return min(max(estimate, floor), offset)


def _visibility_parts(*, visible_to: Any, organization: Any, memberships: dict[int, str] | None) -> list[Q] | None:
    """What `_scoped` lets `visible_to` see, as disjoint conditions that each one index
    answers: the jobs they created, and their organizations' jobs that they did not create.
    None where the scope has no OR to split (no scope, staff, anonymous, or a member asking
    about one of their organizations)."""
    if visible_to is UNSCOPED or not is_person(visible_to) or visible_to.is_staff:
        return None
    if not memberships or member_asking_about_own_org(visible_to, organization, memberships):
        return None  # their own jobs only, or all of the organization's: no OR
    return [Q(created_by=visible_to), Q(organization_id__in=sorted(memberships)) & ~Q(created_by=visible_to)]


def _count(base: QuerySet[Job], parts: list[Q], *, whole: QuerySet[Job], cap: int | None) -> tuple[int, bool]:
    """How many rows of `base` the union of the disjoint `parts` holds, and whether that is
    exact: each part counted apart, so that each count reads one index instead of PostgreSQL
    filtering the table for an OR, the later ones only as far as the cap leaves (cap + 1 rows
    in all); beyond the cap, the estimate of `whole` (the same rows), or an exact count where
    there is no estimate."""
    base = base.order_by()
    if not cap:
        return sum(base.filter(part).count() for part in parts), True
    counted = 0
    for part in parts:
        # SELECT COUNT(*) FROM (SELECT ... LIMIT n): PostgreSQL drops the unused column, so an
        # index that serves the filters is read alone, and no further than n entries
        counted += base.filter(part)[: cap + 1 - counted].count()
        if counted > cap:
            break
    if counted <= cap:
        return counted, True
    estimate = estimated_count(whole.order_by())
    if estimate is None:
        return sum(base.filter(part).count() for part in parts), True
    return estimate, False


def estimated_count(qs: QuerySet[Any]) -> int | None:
    """PostgreSQL's estimate of the rows `qs` matches (the planner's row count of its plan,
    from the table statistics that ANALYZE and autovacuum keep), or None on other databases.
    One EXPLAIN: the query is planned, not run."""
    if connections[qs.db].vendor != "postgresql":
        return None
    plan = json.loads(qs.order_by().values("pk").explain(format="json"))
    return max(0, int(plan[0]["Plan"]["Plan Rows"]))




def estimated_table_rows(model: type[Any], using: str = "default") -> int | None:
    """PostgreSQL's estimate of a whole table's rows (pg_class.reltuples, no planning at all),
    or None where there is none: another database, or a table never vacuumed or analyzed."""
    return queries.estimated_rows(model._meta.db_table, using=using)
