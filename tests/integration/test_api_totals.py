"""The list's total and the stats at the edges that make them fast.

* `pagination.total` is exact up to JOBS_API_EXACT_TOTAL_MAX matching jobs and an estimate
  beyond (`totalIsExact: false`), kept within what the page proves; `hasNext` is always exact.
  Databases without an estimate (SQLite) count exactly; the estimate's bounds are tested on
  every database with a stand-in estimate, and PostgreSQL's own estimate on PostgreSQL.
* The stats equal a brute-force count over the jobs each user may see, whatever the path.
* A user who is not staff sees their own jobs OR their organizations': the list counts the two
  apart and their sum equals a brute-force count, under the cap and around it.
* On PostgreSQL, an organization's and a project's stats and the capped count can be read from
  an index alone (the status rides in the organization and project indexes).
"""
from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import selectors
from jobs.models import Job
from jobs.states import JobStatus
from tests.api_support import client_for, make_person, relaxed_quotas  # noqa: F401
from tests.factories import make_job, make_membership, make_org, make_project

pytestmark = [pytest.mark.usefixtures("relaxed_quotas"), pytest.mark.django_db]

N = 12
ON_POSTGRES = connection.vendor == "postgresql"


@pytest.fixture
def twelve(db: None) -> dict[str, Any]:
    """Twelve jobs, four of them failed, seen by a staff client."""
    staff = make_person("totals-staff", is_staff=True)
    for n in range(N):
        make_job("failed" if n % 3 == 0 else "completed", created_by=staff)
    return {"client": client_for(staff), "staff": staff}


def pagination(client: Any, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/jobs?{query}")
    assert response.status_code == 200, response.content
    return response.json()["pagination"]


def set_estimate(monkeypatch: pytest.MonkeyPatch, value: int | None) -> None:
    """Stand in for PostgreSQL's estimate (None: a database without one)."""
    monkeypatch.setattr(selectors.listing, "estimated_count", lambda qs: value)


# --- the total: exact up to the cap, an estimate above it ------------------------------------


@pytest.mark.parametrize("cap", [N, N + 1, 1000, 0])
def test_the_total_is_exact_up_to_the_cap(twelve: dict[str, Any], settings: Any, cap: int) -> None:
    settings.JOBS_API_EXACT_TOTAL_MAX = cap
    assert pagination(twelve["client"], "limit=5") == {"total": N, "totalIsExact": True, "offset": 0, "limit": 5,
                                                       "hasNext": True}
    assert pagination(twelve["client"], "limit=2&statuses=failed")["total"] == 4


def test_above_the_cap_the_total_is_flagged_as_an_estimate(twelve: dict[str, Any], settings: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    settings.JOBS_API_EXACT_TOTAL_MAX = N - 1
    set_estimate(monkeypatch, 5000)
    assert pagination(twelve["client"], "limit=5") == {"total": 5000, "totalIsExact": False, "offset": 0,
                                                       "limit": 5, "hasNext": True}
    # the filters decide which side of the cap a list is on
    assert pagination(twelve["client"], "limit=2&statuses=failed") == {"total": 4, "totalIsExact": True,
                                                                       "offset": 0, "limit": 2, "hasNext": True}


def test_an_estimate_never_contradicts_what_the_page_proves(twelve: dict[str, Any], settings: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    settings.JOBS_API_EXACT_TOTAL_MAX = 3
    client = twelve["client"]
    set_estimate(monkeypatch, 1)  # far too low
    # more than the cap matched, and at least the rows to the end of this page plus the next
    assert pagination(client, "limit=2") == {"total": 4, "totalIsExact": False, "offset": 0, "limit": 2,
                                             "hasNext": True}
    assert pagination(client, "limit=4&offset=4")["total"] == 9
    # past the end: fewer than the offset matched
    set_estimate(monkeypatch, 10_000)  # far too high
    assert pagination(client, "limit=5&offset=20") == {"total": 20, "totalIsExact": False, "offset": 20,
                                                       "limit": 5, "hasNext": False}
    set_estimate(monkeypatch, 1)
    assert pagination(client, "limit=5&offset=20")["total"] == 4


def test_without_an_estimate_the_total_is_counted_exactly(twelve: dict[str, Any], settings: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    settings.JOBS_API_EXACT_TOTAL_MAX = 2
    set_estimate(monkeypatch, None)
    assert pagination(twelve["client"], "limit=5") == {"total": N, "totalIsExact": True, "offset": 0, "limit": 5,
                                                       "hasNext": True}


def test_has_next_is_exact_at_every_boundary(twelve: dict[str, Any], settings: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    settings.JOBS_API_EXACT_TOTAL_MAX = 2
    set_estimate(monkeypatch, 3)  # wrong on purpose: hasNext must not depend on it
    client = twelve["client"]
    expected = {  # offset, limit -> hasNext
        (0, 11): True, (0, 12): False, (0, 13): False, (7, 4): True, (8, 4): False, (9, 4): False,
        (11, 1): False, (10, 1): True, (12, 1): False, (40, 5): False,
    }
    for (offset, limit), has_next in expected.items():
        page = pagination(client, f"offset={offset}&limit={limit}")
        assert page["hasNext"] is has_next, (offset, limit, page)
        if not has_next and offset < N:  # the last page tells the total exactly
            assert page["total"] == N and page["totalIsExact"] is True, (offset, limit, page)


def test_a_last_page_costs_one_query_and_a_full_one_at_most_three(twelve: dict[str, Any],
                                                                   django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):  # the rows: the page is short, nothing to count
        page = selectors.job_list(limit=20, exact_total_max=5)
    assert (page.total, page.total_is_exact, page.has_next) == (N, True, False)
    with django_assert_num_queries(2):  # the rows and the capped count (under the cap)
        page = selectors.job_list(limit=2, exact_total_max=100)
    assert (page.total, page.total_is_exact, page.has_next) == (N, True, True)
    # rows, capped count and the estimate (or, without one, the exact count)
    with django_assert_num_queries(3):
        page = selectors.job_list(limit=2, exact_total_max=5)
    assert page.has_next and page.total >= 6 and page.total_is_exact is not ON_POSTGRES


def test_the_selector_counts_exactly_unless_asked_to_cap(twelve: dict[str, Any]) -> None:
    """The commands' `jobs list` keeps an exact total: only the API passes its cap."""
    page = selectors.job_list(limit=2)
    assert (page.total, page.total_is_exact) == (N, True)


@pytest.mark.skipif(not ON_POSTGRES,
                    reason="the planner's row estimate is PostgreSQL's; runs in .ci/run's PostgreSQL pass")
def test_postgresql_estimates_from_the_table_statistics(twelve: dict[str, Any], settings: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_job")
    assert selectors.estimated_count(Job.objects.all()) == N
    assert selectors.estimated_count(Job.objects.filter(status="failed")) == 4
    settings.JOBS_API_EXACT_TOTAL_MAX = 5
    page = pagination(twelve["client"], "limit=2")
    assert page == {"total": N, "totalIsExact": False, "offset": 0, "limit": 2, "hasNext": True}


def test_the_cap_counts_only_what_the_user_may_see(db: None, settings: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    settings.JOBS_API_EXACT_TOTAL_MAX = 4
    set_estimate(monkeypatch, None)
    me, other = make_person("totals-me"), make_person("totals-other")
    for _ in range(4):
        make_job(created_by=me)
    for _ in range(10):
        make_job(created_by=other)
    # 4 visible jobs of 14: under the cap, exact
    assert pagination(client_for(me), "limit=1") == {"total": 4, "totalIsExact": True, "offset": 0, "limit": 1,
                                                     "hasNext": True}


def test_the_setting_is_documented_in_the_schema(db: None) -> None:
    client = client_for(make_person("totals-schema", is_staff=True))
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    page = schema["components"]["schemas"]["Pagination"]
    assert page["properties"]["totalIsExact"]["type"] == "boolean"
    assert "totalIsExact" in page["required"]
    assert "JOBS_API_EXACT_TOTAL_MAX" in page["properties"]["total"]["description"]
    assert "JOBS_API_EXACT_TOTAL_MAX" in schema["paths"]["/api/jobs"]["get"]["description"]


# --- stats: exact, for everyone's view ----------------------------------------------------------


@pytest.fixture
def spread(db: None) -> dict[str, Any]:
    """Jobs over two organizations, their projects, a project outside any organization and no
    organization at all, by a member, an outsider and a colleague, in every status."""
    rng = random.Random(7)
    member, outsider, colleague = make_person("st-member"), make_person("st-outsider"), make_person("st-colleague")
    staff = make_person("st-staff", is_staff=True)
    org, other = make_org("Stats North"), make_org("Stats South")
    make_membership(member, org)
    make_membership(colleague, org)
    projects = [make_project(org), make_project(org), make_project(other), make_project(None)]
    jobs = []
    for _ in range(150):
        project = rng.choice(projects + [None])
        organization = project.organization if project else rng.choice([org, other, None])
        jobs.append(make_job(rng.choice(JobStatus.values), created_by=rng.choice([member, outsider, colleague]),
                             organization=organization, project=project))
    # a job of the member's that sits in the other organization's project (created before a move)
    jobs.append(make_job("failed", created_by=member, organization=other, project=projects[0]))
    return {"users": {"member": member, "outsider": outsider, "staff": staff}, "org": org, "other": other,
            "projects": projects, "jobs": jobs}


def brute_force(jobs: list[Job], user: Any, keep: Any) -> dict[str, int]:
    memberships = set(selectors.memberships_of(user=user))
    seen = [job for job in jobs if keep(job) and (
        user.is_staff or job.created_by_id == user.pk or job.organization_id in memberships)]
    counts = Counter(job.status for job in seen)
    return {"total": len(seen), **{status: counts[status] for status in JobStatus.values}}


@pytest.mark.parametrize("who", ["member", "outsider", "staff"])
def test_stats_equal_a_brute_force_count(spread: dict[str, Any], who: str) -> None:
    user, jobs = spread["users"][who], spread["jobs"]
    for org in (spread["org"], spread["other"]):
        assert selectors.job_stats(organization=org, visible_to=user) == brute_force(
            jobs, user, lambda job, org=org: job.organization_id == org.pk), org
    for project in spread["projects"]:
        assert selectors.job_stats(project=project, visible_to=user) == brute_force(
            jobs, user, lambda job, project=project: job.project_id == project.pk), project
    assert selectors.job_stats(visible_to=user) == brute_force(jobs, user, lambda job: True)


def test_stats_endpoints_equal_a_brute_force_count(spread: dict[str, Any]) -> None:
    member, jobs, org = spread["users"]["member"], spread["jobs"], spread["org"]
    client = client_for(member)
    assert client.get(f"/api/v1/orgs/{org.pk}/jobs/stats").json() == brute_force(
        jobs, member, lambda job: job.organization_id == org.pk)
    for project in (spread["projects"][0], spread["projects"][3]):
        assert client.get(f"/api/jobs/projects/{project.pk}/stats").json() == brute_force(
            jobs, member, lambda job, project=project: job.project_id == project.pk)
    staff = spread["users"]["staff"]
    assert client_for(staff).get(f"/api/v1/orgs/{spread['other'].pk}/jobs/stats").json() == brute_force(
        jobs, staff, lambda job: job.organization_id == spread["other"].pk)


def test_an_organization_filter_shows_an_outsider_only_their_own_jobs(spread: dict[str, Any]) -> None:
    """Members see all of an organization's jobs; the shortcut that drops the visibility
    condition for them must not apply to anyone else."""
    outsider, org = spread["users"]["outsider"], spread["org"]
    page = selectors.job_list(organization=org, visible_to=outsider, limit=1000)
    expected = {job.pk for job in spread["jobs"] if job.organization_id == org.pk and job.created_by_id == outsider.pk}
    assert expected and {job.pk for job in page} == expected and page.total == len(expected)
    member = spread["users"]["member"]
    everything = {job.pk for job in spread["jobs"] if job.organization_id == org.pk}
    assert {job.pk for job in selectors.job_list(organization=org, visible_to=member, limit=1000)} == everything
    # the memberships given are the ones used: without the organization among them, no shortcut
    page = selectors.job_list(organization=org, visible_to=member, memberships={}, limit=1000)
    assert {job.pk for job in page} == {job.pk for job in spread["jobs"]
                                        if job.organization_id == org.pk and job.created_by_id == member.pk}


# --- PostgreSQL: what the indexes can serve ----------------------------------------------------


def _plan(sql: str, params: Any = None) -> str:
    with connection.cursor() as cursor:
        # the planner would rather read a table of a few rows whole: ask what the indexes allow
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.skipif(not ON_POSTGRES, reason="index-only plans are PostgreSQL's; runs in .ci/run's PostgreSQL pass")
def test_an_organizations_and_a_projects_stats_read_their_index_alone(spread: dict[str, Any]) -> None:
    for keyword, value, index in (("organization", spread["org"], "job_org_list_idx"),
                                  ("project", spread["projects"][0], "job_project_list_idx")):
        with CaptureQueriesContext(connection) as queries:
            selectors.job_stats(**{keyword: value})
        (sql,) = [q["sql"] for q in queries.captured_queries]
        plan = _plan(sql)
        assert f"Index Only Scan using {index} on jobs_job" in plan, plan


@pytest.mark.skipif(not ON_POSTGRES, reason="index-only plans are PostgreSQL's; runs in .ci/run's PostgreSQL pass")
def test_the_capped_count_reads_an_index_alone(twelve: dict[str, Any]) -> None:
    with CaptureQueriesContext(connection) as queries:
        selectors.job_list(statuses=["failed"], limit=1, exact_total_max=2)
    counts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT COUNT(*)")]
    assert len(counts) == 1 and "LIMIT 3" in counts[0], queries.captured_queries
    plan = _plan(counts[0])
    # the status index, or the failed jobs' own partial index (the failure groups'): either is read alone
    assert re.search(r"Index Only Scan using (job_status_created_idx|job_failed_group_idx) on jobs_job", plan), plan


# --- a user's total: their own jobs and their organizations', counted apart ---------------------


def _listed(spread: dict[str, Any], user: Any, keep: Any) -> set[Any]:
    organizations = set(selectors.memberships_of(user=user))
    return {job.pk for job in spread["jobs"] if keep(job) and (
        user.is_staff or job.created_by_id == user.pk or job.organization_id in organizations)}


@pytest.mark.parametrize("who", ["member", "outsider", "staff"])
@pytest.mark.parametrize("cap", [0, 1, 10, 10_000])
def test_a_users_total_equals_a_brute_force_count(spread: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                  who: str, cap: int) -> None:
    """Jobs the member created inside their organization are counted once, jobs without an
    organization or in another one only when they created them, whatever the filters."""
    set_estimate(monkeypatch, None)  # beyond the cap: counted exactly, so every total is checkable
    user = spread["users"][who]
    org, project, created_by = spread["org"], spread["projects"][2], spread["users"]["member"]
    cases = {
        "all": ({}, lambda job: True),
        "failed": ({"statuses": ["failed"]}, lambda job: job.status == "failed"),
        "their organization": ({"organization": org}, lambda job: job.organization_id == org.pk),
        "another organization's project": ({"project": project}, lambda job: job.project_id == project.pk),
        "by the member": ({"created_by": created_by}, lambda job: job.created_by_id == created_by.pk),
    }
    for name, (filters, keep) in cases.items():
        expected = _listed(spread, user, keep)
        page = selectors.job_list(visible_to=user, limit=2, exact_total_max=cap, **filters)
        assert (page.total, page.total_is_exact) == (len(expected), True), (name, page.total, len(expected))
        everything = selectors.job_list(visible_to=user, limit=1000, **filters)
        assert {job.pk for job in everything} == expected, name


def test_a_users_total_beyond_the_cap_is_the_estimate(spread: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                      django_assert_num_queries: Any) -> None:
    set_estimate(monkeypatch, 5000)
    member = spread["users"]["member"]
    memberships = selectors.memberships_of(user=member)
    # the rows, and the first half, which alone passes the cap (the stand-in estimate asks nothing)
    with django_assert_num_queries(2):
        page = selectors.job_list(visible_to=member, memberships=memberships, limit=2, exact_total_max=3)
    assert (page.total, page.total_is_exact, page.has_next) == (5000, False, True)
    visible = len(_listed(spread, member, lambda job: True))
    with django_assert_num_queries(3):  # the rows and both halves, under the cap together
        page = selectors.job_list(visible_to=member, memberships=memberships, limit=2, exact_total_max=visible)
    assert (page.total, page.total_is_exact) == (visible, True)
