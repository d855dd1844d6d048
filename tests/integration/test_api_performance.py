"""The job list at 100,000 jobs: a bounded number of queries whatever the page size (no N+1),
and, on PostgreSQL, an index scan for the default list and for each filter.

The rows are bulk-inserted once for the module inside a transaction that is rolled back at the
end (nothing is left in the test database, even after a crash), and every test runs in a
savepoint of it.
"""
from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job, Membership, Organization, Project
from jobs.states import JobStatus
from tests.api_support import client_for, make_person

N_JOBS = 100_000
TYPES = ["build_tiles", "pro_eligibility_tests", "syncGeometriesToAirtable", "syncMetadataFromAirtable",
         "Import", "Export", "Validation", "TestRun"]
# One page, its count, authentication (token, the user's other tokens), memberships, and the
# user's permissions (their own and their groups', read once: what of other people's inputs
# they may see).
MAX_QUERIES = 8

# every test runs in a savepoint of the module's transaction (and pytest-django sets up the
# test database only for tests marked so)
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def big(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield _populate()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _populate() -> dict[str, Any]:
    """100,000 jobs in one executemany of plain tuples (the ORM's bulk_create spends most of a
    minute preparing 3 million values; this is set-up, not a transition, so no service)."""
    started = time.monotonic()
    rng = random.Random(4)
    staff = make_person("perf-staff", is_staff=True)
    viewer = make_person("perf-viewer")
    others = [make_person(f"perf-user-{n}") for n in range(20)]
    orgs = [Organization.objects.create(name=f"Perf {n}", slug=f"perf-{n}") for n in range(10)]
    Membership.objects.create(user=viewer, organization=orgs[0])
    projects = [Project.objects.create(organization=orgs[n % 10], name=f"Perf project {n}") for n in range(30)]
    now = timezone.now()
    # every column gets the model's default, so a column added later needs no change here
    fields = {field.attname: field for field in Job._meta.concrete_fields}
    template = Job(type="perf", queued_at=now)
    defaults = {name: field.get_db_prep_save(getattr(template, name), connection) for name, field in fields.items()}

    as_uuid = (lambda value: value) if connection.features.has_native_uuid_field else (lambda value: value.hex)
    as_time = connection.ops.adapt_datetimefield_value
    as_json = fields["input"].get_db_prep_save
    names = list(fields)
    at = {name: index for index, name in enumerate(names)}
    base = [defaults[name] for name in names]
    rows = []
    for n in range(N_JOBS):
        # the viewer made about 1 job in 100 and belongs to one organization in ten
        creator = viewer if rng.random() < 0.01 else rng.choice(others)
        project = rng.choice(projects) if rng.random() < 0.3 else None
        org = project.organization if project else (rng.choice(orgs) if rng.random() < 0.5 else None)
        created = as_time(now - timedelta(seconds=36 * n + rng.random()))
        row = base.copy()
        row[at["id"]] = as_uuid(uuid.UUID(int=rng.getrandbits(128)))
        row[at["token"]] = as_uuid(uuid.UUID(int=rng.getrandbits(128)))
        row[at["type"]] = rng.choice(TYPES)
        row[at["status"]] = rng.choice(JobStatus.values)
        row[at["input"]] = as_json({"n": n}, connection)
        row[at["created_by_id"]] = creator.pk
        row[at["organization_id"]] = org.pk if org else None
        row[at["project_id"]] = project.pk if project else None
        row[at["created_at"]] = row[at["updated_at"]] = row[at["queued_at"]] = created
        rows.append(row)
    stored = [fields[name].column for name in names]
    assert None not in stored  # concrete fields, each a column of its own
    columns = ", ".join(connection.ops.quote_name(column) for column in stored if column is not None)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: an executemany would cost a round trip per row
            with cursor.cursor.copy(f"COPY jobs_job ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute("ANALYZE jobs_job")  # the planner's statistics for the new rows
        else:
            cursor.executemany(f"INSERT INTO jobs_job ({columns}) VALUES ({', '.join(['%s'] * len(names))})", rows)
    return {"staff": staff, "viewer": viewer, "other": others[0], "org": orgs[0], "project": projects[3],
            "clients": {"staff": client_for(staff), "viewer": client_for(viewer)}, "now": now,
            "seconds": time.monotonic() - started}


def filters(big: dict[str, Any]) -> dict[str, str]:
    """The default list and each filter (and the orderings that an index serves)."""
    since = quote((big["now"] - timedelta(hours=2)).isoformat())
    return {
        "default": "",
        "types": "types=Export",
        "types, two": "types=Export,Import",
        "statuses": "statuses=failed",
        "statuses, alias": "statuses=pending",
        "status": "status=Running",
        "userId": f"userId={big['other'].pk}",
        "projectId": f"projectId={big['project'].pk}",
        "orgId": f"orgId={big['org'].pk}",
        "createdAfter": f"createdAfter={since}",
        "createdBefore": f"createdBefore={since}",
        "oldest first": "orderDirection=asc",
        "deep page": "offset=5000",
    }


def test_the_rows_are_there_and_were_quick_to_make(big: dict[str, Any]) -> None:
    assert Job.objects.count() == N_JOBS
    assert big["seconds"] < 60, f"inserting {N_JOBS} jobs took {big['seconds']:.1f}s"


@pytest.mark.parametrize("who", ["staff", "viewer"])
def test_the_list_costs_a_bounded_number_of_queries(big: dict[str, Any], who: str,
                                                    django_assert_max_num_queries: Any) -> None:
    client = big["clients"][who]
    for name, query in filters(big).items():
        with django_assert_max_num_queries(MAX_QUERIES):
            started = time.monotonic()
            response = client.get(f"/api/jobs?{query}&limit=100")
            elapsed = time.monotonic() - started
        assert response.status_code == 200, (name, response.content)
        assert elapsed < 5, f"{name}: {elapsed:.2f}s"
        body = response.json()
        assert body["pagination"]["total"] > 0 and len(body["jobs"]) <= 100, name
    # the viewer sees their own jobs and their organization's, and counts only those
    if who == "viewer":
        viewer, org = big["viewer"], big["org"]
        expected = Job.objects.filter(created_by=viewer).count() + Job.objects.filter(organization=org).exclude(
            created_by=viewer).count()
        assert client.get("/api/jobs").json()["pagination"]["total"] == expected < N_JOBS / 5


@pytest.mark.parametrize("who", ["staff", "viewer"])
def test_the_page_size_does_not_change_the_number_of_queries(big: dict[str, Any], who: str) -> None:
    client = big["clients"][who]
    counts = []
    for limit in (1, 100):
        with CaptureQueriesContext(connection) as queries:
            assert len(client.get(f"/api/jobs?limit={limit}").json()["jobs"]) == limit
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


JOB_INDEX_SCAN = re.compile(r"Index (Only )?Scan (Backward )?using \S+ on jobs_job\b|Bitmap Heap Scan on jobs_job\b")


def _page_query(queries: CaptureQueriesContext) -> str:
    """The SQL of the page's SELECT (the one with a LIMIT) among a request's queries."""
    pages = [q["sql"] for q in queries.captured_queries if "jobs_job" in q["sql"] and "LIMIT" in q["sql"]
             and "COUNT(" not in q["sql"]]
    assert len(pages) == 1, queries.captured_queries
    return pages[0]


@pytest.mark.parametrize("who", ["staff", "viewer"])
def test_postgresql_uses_an_index_for_the_default_list_and_each_filter(big: dict[str, Any], who: str) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN plans are PostgreSQL's (SQLite's are not what production runs); runs in .ci/run's "
                    "PostgreSQL pass")
    client = big["clients"][who]
    for name, query in filters(big).items():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/api/jobs?{query}").status_code == 200
        sql = _page_query(queries)
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        # an index of jobs_job itself, not merely those of the joined users and projects
        assert JOB_INDEX_SCAN.search(plan), f"{who}, {name}: no index scan of jobs_job\n{sql}\n{plan}"
        assert "Seq Scan on jobs_job" not in plan, f"{who}, {name}: reads the whole table\n{sql}\n{plan}"
