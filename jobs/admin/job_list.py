"""The job list's parts that are not columns of the model: the search as one request reads it,
the count of a filtered list, and the cells that draw a status and a progress.

The search (`jobs.selectors.search`) takes the words typed, the time range of the URL
(created__gte, created__lt: the overview's chart links with these) and the queue filter; it is
read once per request and shown on the page with what went wrong, so a bad word is a message,
never an error page. The count is exact up to COUNT_EXACT_MAX rows and estimated
beyond: an exact COUNT of a million matching rows costs more than the page itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html

from jobs import selectors
from jobs.admin import counting
from jobs.models import Job
from jobs.selectors.search import JobSearch, SearchError, SearchResult, parse_search, parse_time_range, search_jobs
from jobs.states import JobStatus

RANGE_PARAMETERS = ("created__gte", "created__lt")
QUEUE_PARAMETER = "queue"
# Up to this many matching jobs the list counts exactly (reading that far in an index at most).
COUNT_EXACT_MAX = 10_000
_REQUEST_ATTRIBUTE = "_job_list_search"


@dataclass
class ListSearch:
    """One request's search: the words, the filters read from them and the URL, each problem
    (quoting the word or parameter at fault), and, once applied, how far it looked."""

    text: str
    search: JobSearch = field(default_factory=JobSearch)
    problems: list[str] = field(default_factory=list)
    result: SearchResult | None = None

    @property
    def since(self) -> datetime | None:
        return self.search.created_gte

    @property
    def until(self) -> datetime | None:
        return self.search.created_lt

    @property
    def has_range(self) -> bool:
        return self.since is not None or self.until is not None

    @property
    def scan_rows(self) -> int | None:
        return self.result.scan_rows if self.result is not None else None

    @property
    def scan_rows_shown(self) -> str:
        return f"{self.scan_rows:,}" if self.scan_rows is not None else ""

    @property
    def scanned_since(self) -> datetime | None:
        return self.result.scanned_since if self.result is not None else None

    def apply(self, queryset: QuerySet[Job]) -> QuerySet[Job]:
        """The queryset narrowed to the search; none at all while a word is wrong (a bulk
        action must never run on a broader set than the operator asked for)."""
        if not self.problems:
            try:
                self.result = search_jobs(queryset, self.search)
            except SearchError as exc:
                self.problems.extend(problem for problem in exc.problems if problem not in self.problems)
            else:
                return self.result.queryset
        return queryset.none()


def list_search(request: HttpRequest, text: str | None = None) -> ListSearch:
    """The search of this request (its `q`, unless `text` is given), read once per request."""
    text = request.GET.get("q", "") if text is None else text
    cached = getattr(request, _REQUEST_ATTRIBUTE, None)
    if isinstance(cached, ListSearch) and cached.text == text:
        return cached
    state = ListSearch(text=text)
    try:
        state.search = parse_search(text)
    except SearchError as exc:
        state.problems.extend(exc.problems)
    try:
        since, until = parse_time_range(*(request.GET.get(name) for name in RANGE_PARAMETERS))
    except SearchError as exc:
        state.problems.extend(exc.problems)
        since = until = None
    queues = tuple(queue for queue in request.GET.getlist(QUEUE_PARAMETER) if queue)
    state.search = replace(state.search, created_gte=since, created_lt=until,
                           queues=state.search.queues + tuple(q for q in queues if q not in state.search.queues))
    setattr(request, _REQUEST_ATTRIBUTE, state)
    return state


class JobListPaginator(Paginator):
    """Counts a list exactly up to COUNT_EXACT_MAX rows, reading no further (a COUNT over
    a LIMITed subquery); beyond, PostgreSQL's estimate, never below the cap + 1
    (`count_is_exact` is then False and the page says "about"). Without an estimate (SQLite)
    the count is exact."""

    count_is_exact = True

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if not isinstance(rows, QuerySet):
            return len(rows)
        cap = COUNT_EXACT_MAX
        counted = rows.order_by()[: cap + 1].count()
        if counted <= cap:
            return counted
        if rows.query.where:
            estimate = selectors.estimated_count(rows)
        else:  # the whole table: its row estimate, without planning a query
            estimate = counting.estimated_row_count(rows.model, using=rows.db)
        if estimate is None:
            return rows.count()
        self.count_is_exact = False
        return max(estimate, cap + 1)


# --- cells ------------------------------------------------------------------------------------------


def status_badge(job: Job) -> str:
    """The status as a coloured badge (jobs/job_list.css); a running job asked to stop says so."""
    stopping = ""
    if job.status == JobStatus.RUNNING and job.cancel_requested_at is not None:
        stopping = format_html(' <span class="job-status job-status-stopping" title="{}">stopping</span>',
                               "cancel requested: it stops at its next progress report")
    return format_html('<span class="job-status job-status-{}">{}</span>{}', job.status,
                       job.get_status_display(), stopping)


def progress_bar(job: Job) -> str:
    """A bar with the percentage; the handler's last progress message is its title."""
    title = job.progress_message or f"{job.progress}%"
    return format_html(
        '<span class="job-progress job-progress-{}" title="{}"><progress max="100" value="{}">{}%</progress>'
        '<span class="job-progress-text">{}%</span></span>',
        job.status, title, job.progress, job.progress, job.progress,
    )

