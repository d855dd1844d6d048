"""Counting large tables for the admin's pages: on a table of millions of rows an unfiltered
COUNT(*) is the slowest thing the admin does, so the paginator takes PostgreSQL's planner
estimate instead (and the "N total" count that needs a second COUNT is off)."""
from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

from jobs import selectors

# Below this many rows a real COUNT is cheap and exact; above it the estimate is good enough
# to draw "page 1 of 20,000" and saves a sequential scan on every page view.
ESTIMATE_COUNT_ABOVE = 100_000


def estimated_row_count(model: type[Any], using: str = "default") -> int | None:
    """The table's row estimate (`selectors.estimated_table_rows`); a name of its own so that
    tests can stand in a large table."""
    return selectors.estimated_table_rows(model, using=using)


class EstimatedCountPaginator(Paginator):
    """A paginator that does not COUNT(*) an unfiltered large table on PostgreSQL.

    With filters or a search the count is exact (those queries use the indexes); without any,
    the planner's estimate is used when it is above ESTIMATE_COUNT_ABOVE. Elsewhere (SQLite)
    the count is always exact.
    """

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if isinstance(object_list, QuerySet) and not object_list.query.where:
            estimate = estimated_row_count(object_list.model, using=object_list.db)
            if estimate is not None and estimate > ESTIMATE_COUNT_ABOVE:
                return estimate
        if isinstance(object_list, QuerySet):
            return object_list.count()
        return len(object_list)
