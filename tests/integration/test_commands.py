"""The management commands `enqueue_job` and `jobs`, and the selectors they read through.

Jobs are put in each status with the services themselves (claim, complete, fail, cancel):
no worker and no sleeping, except where a real worker is the point (`--wait`). Inside the
`db` fixture's transaction nothing is published, so those tests never touch the broker.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from jobs import selectors
from jobs.error_groups import error_group
from jobs.errors import JobNotFound, JobValidationError
from jobs.models import Job, JobAttempt, Membership, Organization, Project
from tests.factories import job_in_status
from tests.processes import BASE_DIR, child_environment

# --- helpers -----------------------------------------------------------------------------


def run(*args: str) -> str:
    """call_command with stdout captured; CommandError propagates."""
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def tenancy(django_user_model: Any) -> dict[str, Any]:
    alice = django_user_model.objects.create_user(username="alice", password=None)
    acme = Organization.objects.create(name="Acme", slug="acme")
    other = Organization.objects.create(name="Other", slug="other")
    Membership.objects.create(user=alice, organization=acme, role=Membership.Role.ADMIN)
    return {
        "alice": alice,
        "acme": acme,
        "other": other,
        "reports": Project.objects.create(name="Reports", organization=acme),
        "elsewhere": Project.objects.create(name="Elsewhere", organization=other),
    }


def field(out: str, label: str) -> str:
    """The value on the `label  value` line of a job's human output."""
    found = re.search(rf"^\s*{re.escape(label)}  +(.*)$", out, re.MULTILINE)
    assert found, f"no {label!r} line in:\n{out}"
    return found.group(1)


def payload_of_size(size: int) -> str:
    """A JSON object whose compact encoding (what job_create measures) is exactly `size` bytes."""
    envelope = len('{"data":""}')
    text = json.dumps({"data": "x" * (size - envelope)}, separators=(",", ":"))
    assert len(text.encode()) == size
    return text


# --- enqueue_job: bad input changes nothing ------------------------------------------------


# the size cases are written against the setting itself; that its default is the 1 MB the docs
# give is tests/unit/test_documented_defaults.py's to check
LIMIT = settings.JOBS_MAX_PAYLOAD_BYTES


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no.such.type"], r"TYPE: unknown job type 'no.such.type'; registered types: .*demo\.sleep"),
        (["demo.sleep", "--input", '{"seconds": 1,}'], r"--input is not valid JSON: .* at line 1, column 15"),
        (["demo.sleep", "--input", "{seconds: 1}"], r"--input is not valid JSON: Expecting property name .* column 2"),
        (["demo.sleep", "--input", "[1, 2]"], r"--input must be a JSON object .*got an array"),
        (["demo.sleep", "--input", '"text"'], r"--input must be a JSON object .*got a string"),
        (["demo.sleep", "--input", "null"], r"--input must be a JSON object .*got null"),
        (["demo.sleep", "--input", '{"x": NaN}'], r"--input is not valid JSON: NaN is not a JSON value"),
        (["demo.sleep", "--input", payload_of_size(LIMIT + 1)],
         rf"--input: payload is {LIMIT + 1} bytes, over the limit of {LIMIT} bytes"),
        (["demo.sleep", "--priority", "11"], r"--priority: must be an integer from 1 \(most urgent\) to 10, got 11"),
        (["demo.sleep", "--priority", "0"], r"--priority: must be an integer from 1 .* got 0"),
        (["demo.sleep", "--priority", "high"], r"argument --priority: invalid int value: 'high'"),
        (["demo.sleep", "--delay", "-5"], r"--delay: must be a number of seconds >= 0, got -5"),
        (["demo.sleep", "--delay", "nan"], r"--delay: must be a number of seconds >= 0, got nan"),
        (["demo.sleep", "--user", "nobody"], r"--user: no user named 'nobody'"),
        (["demo.sleep", "--org", "nowhere"], r"--org: no organization with slug or id 'nowhere'"),
        (["demo.sleep", "--project", "999999"], r"--project: no project with id '999999'"),
        (["demo.sleep", "--project", "abc"], r"--project: no project with id 'abc'"),
        (["demo.sleep", "--timeout", "5"], r"--timeout only applies with --wait"),
        (["demo.sleep", "--wait", "--timeout", "0"], r"--timeout: must be a number of seconds > 0"),
        # the db fixture's transaction never commits, so no worker could ever see the job
        (["demo.sleep", "--wait"], r"--wait cannot be used inside a database transaction"),
    ],
)
def test_enqueue_job_bad_input_names_the_problem_and_creates_nothing(args: list[str], message: str) -> None:
    before = Job.objects.count()
    with pytest.raises(CommandError, match=message):
        run("enqueue_job", *args)
    assert Job.objects.count() == before


@pytest.mark.django_db
def test_enqueue_job_project_of_another_organization_is_refused(tenancy: dict[str, Any]) -> None:
    project = tenancy["elsewhere"]
    with pytest.raises(CommandError, match=rf"--project: project {project.pk} belongs to another organization"):
        run("enqueue_job", "demo.sleep", "--org", "acme", "--project", str(project.pk))
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_enqueue_job_accepts_a_payload_of_exactly_the_limit() -> None:
    out = run("enqueue_job", "demo.sleep", "--input", payload_of_size(LIMIT), "--json")
    assert Job.objects.get(pk=json.loads(out)["id"]).input["data"].startswith("xxx")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no.such.type"], "unknown job type 'no.such.type'"),
        (["demo.sleep", "--input", "{oops"], "--input is not valid JSON"),
    ],
)
def test_enqueue_job_from_the_shell_exits_non_zero(args: list[str], message: str) -> None:
    """The real command line: CommandError becomes exit status 1 and a message on stderr."""
    done = subprocess.run(
        [sys.executable, "manage.py", "enqueue_job", *args],
        cwd=BASE_DIR, env=child_environment(), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert Job.objects.count() == 0


# --- enqueue_job: good input -----------------------------------------------------------------


@pytest.mark.django_db
def test_enqueue_job_creates_the_row_with_every_option(tenancy: dict[str, Any]) -> None:
    before = timezone.now()
    out = run(
        "enqueue_job", "demo.sleep", "--input", '{"seconds": 2, "steps": 4}', "--priority", "2",
        "--delay", "600", "--user", "alice", "--org", "acme", "--project", str(tenancy["reports"].pk),
        "--dedup-key", "report-42", "--json",
    )
    data = json.loads(out)
    job = Job.objects.select_related("created_by").get(pk=data["id"])
    assert (job.type, job.status, job.input, job.priority) == ("demo.sleep", "queued", {"seconds": 2, "steps": 4}, 2)
    assert job.created_by is not None and job.created_by.username == "alice"
    assert (job.organization, job.project, job.dedup_key) == (tenancy["acme"], tenancy["reports"], "report-42")
    assert job.run_at is not None
    assert 599 <= (job.run_at - before).total_seconds() <= 610
    # a delay past the broker's countdown limit is held in the database for the sweeper
    assert job.dispatched_at is None
    assert set(data) >= {
        "id", "type", "status", "progress", "progressMessage", "input", "result", "error", "priority",
        "attempts", "maxAttempts", "createdAt", "startedAt", "completedAt", "runAt",
    }
    assert data["status"] == "queued" and data["priority"] == 2 and data["maxAttempts"] == 3
    assert data["deduplicated"] is False and data["startedAt"] is None
    assert data["runAt"].endswith("Z") and data["createdAt"] == job.created_at.isoformat().replace("+00:00", "Z")

    again = json.loads(run("enqueue_job", "demo.sleep", "--dedup-key", "report-42", "--json"))
    assert again["id"] == data["id"] and again["deduplicated"] is True
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_enqueue_job_project_implies_its_organization_and_org_takes_an_id(tenancy: dict[str, Any]) -> None:
    by_project = json.loads(run("enqueue_job", "demo.sleep", "--project", str(tenancy["reports"].pk), "--json"))
    assert by_project["organizationId"] == tenancy["acme"].pk
    by_id = json.loads(run("enqueue_job", "demo.sleep", "--org", str(tenancy["other"].pk), "--json"))
    assert by_id["organizationId"] == tenancy["other"].pk and by_id["projectId"] is None


@pytest.mark.django_db
def test_enqueue_job_human_output() -> None:
    out = run("enqueue_job", "demo.flaky", "--input", '{"failures": 2}')
    job = Job.objects.get()
    assert out.splitlines()[0] == f"Enqueued job {job.pk}."
    assert field(out, "type") == "demo.flaky"
    assert field(out, "status") == "queued"
    assert field(out, "input") == '{"failures": 2}'


@pytest.mark.django_db(transaction=True)
def test_enqueue_job_wait_gives_up_after_the_timeout() -> None:
    # held in the database for an hour: no worker is needed to prove that waiting stops
    with pytest.raises(CommandError, match=r"job .* is still queued \(0%\) after 0.3s"):
        run("enqueue_job", "demo.sleep", "--delay", "3600", "--wait", "--timeout", "0.3")
    assert Job.objects.get().status == "queued"


@pytest.mark.workers
def test_enqueue_job_wait_runs_the_job_on_a_real_worker(processes: Any) -> None:
    processes.worker()
    buf = StringIO()
    call_command(
        "enqueue_job", "demo.sleep", "--input", '{"seconds": 0.5, "steps": 2}', "--wait", "--json", stdout=buf
    )
    data = json.loads(buf.getvalue())
    assert data["status"] == "completed" and data["progress"] == 100
    assert data["result"] == {"slept": 0.5, "steps": 2}
    job = Job.objects.get(pk=data["id"])
    assert job.started_at is not None and job.completed_at is not None and job.started_at <= job.completed_at
    assert job.result == {"slept": 0.5, "steps": 2}
    attempts = list(JobAttempt.objects.filter(job=job))
    assert len(attempts) == 1 and attempts[0].outcome == JobAttempt.Outcome.COMPLETED
    assert data["startedAt"] is not None and data["completedAt"] is not None


@pytest.mark.workers
def test_enqueue_job_wait_exits_non_zero_when_the_job_fails(processes: Any) -> None:
    processes.worker()
    buf = StringIO()
    with pytest.raises(CommandError, match=r"job .* ended failed: .*demo.flaky asked to fail permanently"):
        call_command("enqueue_job", "demo.flaky", "--input", '{"permanent": true}', "--wait", "--json", stdout=buf)
    # the job is printed before the error, so a script still gets the details
    data = json.loads(buf.getvalue())
    assert data["status"] == "failed" and data["error"].endswith("demo.flaky asked to fail permanently")


# --- jobs list -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_jobs_list_is_a_table_aligned_in_columns() -> None:
    jobs = [job_in_status("queued"), job_in_status("completed", type="demo.flaky"), job_in_status("failed")]
    lines = run("jobs", "list").splitlines()
    header, rows, footer = lines[0], lines[1:-1], lines[-1]
    assert header.split() == ["ID", "TYPE", "STATUS", "PROGRESS", "ATTEMPTS", "PRIORITY", "CREATED", "(UTC)"]
    assert [row.split()[0] for row in rows] == [str(job.pk) for job in reversed(jobs)]  # newest first
    for column in ("TYPE", "STATUS", "PROGRESS", "ATTEMPTS", "PRIORITY", "CREATED"):
        start = header.index(column)
        for row in rows:
            assert row[start - 2 : start] == "  " and row[start] != " ", (column, row)
    assert [row.split()[2] for row in rows] == ["failed", "completed", "queued"]
    assert footer == "3 of 3 job(s), newest first."


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["queued"], {"queued"}),
        (["PENDING"], {"queued"}),
        (["Processing"], {"running"}),
        (["finished", "error"], {"completed", "failed"}),
        (["canceled"], {"cancelled"}),
    ],
)
def test_jobs_list_filters_by_status_and_its_aliases(statuses: list[str], expected: set[str]) -> None:
    for status in ("queued", "running", "completed", "failed", "cancelled"):
        job_in_status(status)
    args = [arg for status in statuses for arg in ("--status", status)]
    data = json.loads(run("jobs", "list", *args, "--json"))
    assert {job["status"] for job in data["jobs"]} == expected
    assert data["total"] == len(expected)


@pytest.mark.django_db
def test_jobs_list_type_limit_and_json() -> None:
    for _ in range(3):
        job_in_status(type="demo.flaky")
    job_in_status(type="demo.sleep")
    data = json.loads(run("jobs", "list", "--type", "demo.flaky", "--limit", "2", "--json"))
    assert data["total"] == 3 and len(data["jobs"]) == 2
    assert {job["type"] for job in data["jobs"]} == {"demo.flaky"}
    assert run("jobs", "list", "--type", "nothing.like.it") == "No jobs match.\n"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "sleeping"], r"--status: unknown status 'sleeping'; accepted: queued, running, .*pending"),
        (["--limit", "0"], r"--limit: must be an integer from 1 to 1000, got 0"),
        (["--limit", "5000"], r"--limit: must be an integer from 1 to 1000"),
    ],
)
def test_jobs_list_bad_options(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("jobs", "list", *args)


# --- jobs show -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_jobs_show_prints_the_job_and_its_attempts() -> None:
    job = job_in_status("failed")
    out = run("jobs", "show", str(job.pk))
    assert field(out, "id") == str(job.pk)
    assert field(out, "status") == "failed"
    assert field(out, "error") == "boom: the disk is full"
    assert field(out, "attempts") == "1/3"
    lines = out.splitlines()
    attempts_at = lines.index("Attempts:")
    assert lines[attempts_at + 1].split()[:3] == ["#", "OUTCOME", "WORKER"]
    assert lines[attempts_at + 2].split()[:3] == ["1", "failed_final", "celery@test-host"]

    data = json.loads(run("jobs", "show", str(job.pk), "--json"))
    assert data["id"] == str(job.pk) and data["status"] == "failed" and data["error"] == "boom: the disk is full"
    assert data["attempts"] == 1 and data["maxAttempts"] == 3
    history = data["attemptHistory"]
    assert [(a["number"], a["outcome"], a["worker"]) for a in history] == [(1, "failed_final", "celery@test-host")]
    assert history[0]["finishedAt"].endswith("Z") and history[0]["error"] == "boom: the disk is full"


@pytest.mark.django_db
def test_jobs_show_a_queued_job_has_no_attempts() -> None:
    job = job_in_status("queued")
    assert run("jobs", "show", f"  {job.pk}  ").rstrip().endswith("No attempts yet.")


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["show", "cancel", "retry"])
def test_jobs_unknown_and_malformed_ids(action: str) -> None:
    missing = uuid.uuid4()
    with pytest.raises(CommandError, match=f"job {missing} does not exist"):
        run("jobs", action, str(missing))
    with pytest.raises(CommandError, match=r"ID: '12345' is not a valid job id"):
        run("jobs", action, "12345")


# --- jobs cancel / retry ---------------------------------------------------------------------


@pytest.mark.django_db
def test_jobs_cancel_a_queued_job() -> None:
    job = job_in_status("queued")
    assert run("jobs", "cancel", str(job.pk)) == f"Cancelled job {job.pk}.\n"
    job.refresh_from_db()
    assert job.status == "cancelled" and job.completed_at is not None


@pytest.mark.django_db
def test_jobs_cancel_a_running_job_asks_it_to_stop() -> None:
    job = job_in_status("running")
    assert "Asked running job" in run("jobs", "cancel", str(job.pk))
    job.refresh_from_db()
    assert job.status == "running" and job.cancel_requested_at is not None


@pytest.mark.django_db
def test_jobs_cancel_of_a_completed_job_is_refused_and_changes_nothing() -> None:
    job = job_in_status("completed")
    before = Job.objects.filter(pk=job.pk).values().get()
    with pytest.raises(CommandError, match=f"job {job.pk} is completed and cannot become cancelled"):
        run("jobs", "cancel", str(job.pk))
    assert Job.objects.filter(pk=job.pk).values().get() == before


@pytest.mark.django_db
def test_jobs_retry_a_failed_job() -> None:
    job = job_in_status("failed")
    out = run("jobs", "retry", str(job.pk))
    assert out == f"Job {job.pk} is queued again (attempt 2 of at most 4).\n"
    job.refresh_from_db()
    assert (job.status, job.progress, job.error, job.started_at, job.completed_at) == ("queued", 0, "", None, None)


@pytest.mark.django_db
def test_jobs_retry_of_a_running_job_is_refused_and_changes_nothing() -> None:
    job = job_in_status("running")
    before = Job.objects.filter(pk=job.pk).values().get()
    with pytest.raises(CommandError, match=f"job {job.pk} is running and cannot become queued"):
        run("jobs", "retry", str(job.pk))
    assert Job.objects.filter(pk=job.pk).values().get() == before


# --- jobs stats ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_jobs_stats_table_json_and_filters(tenancy: dict[str, Any]) -> None:
    reports = tenancy["reports"]
    for status in ("queued", "queued", "running", "completed", "failed", "cancelled"):
        job_in_status(status, project=reports)
    job_in_status("completed", organization=tenancy["other"])

    lines = run("jobs", "stats").splitlines()
    assert [line.split() for line in lines] == [
        ["STATUS", "JOBS"], ["queued", "2"], ["running", "1"], ["completed", "2"], ["failed", "1"],
        ["cancelled", "1"], ["total", "7"],
    ]
    assert lines[1].index("2") == lines[0].index("JOBS")

    by_project = json.loads(run("jobs", "stats", "--project", str(reports.pk), "--json"))
    assert by_project == {"total": 6, "queued": 2, "running": 1, "completed": 1, "failed": 1, "cancelled": 1}
    by_org = json.loads(run("jobs", "stats", "--org", "other", "--json"))
    assert by_org["total"] == 1 and by_org["completed"] == 1
    assert json.loads(run("jobs", "stats", "--org", str(tenancy["acme"].pk), "--json"))["total"] == 6


@pytest.mark.django_db
def test_jobs_stats_unknown_project_or_org() -> None:
    with pytest.raises(CommandError, match=r"--project: no project with id '424242'"):
        run("jobs", "stats", "--project", "424242")
    with pytest.raises(CommandError, match=r"--org: no organization with slug or id 'ghost'"):
        run("jobs", "stats", "--org", "ghost")


@pytest.mark.django_db
def test_jobs_requires_an_action() -> None:
    with pytest.raises(CommandError, match="ACTION"):
        run("jobs")


# --- the selectors underneath ----------------------------------------------------------------


@pytest.mark.django_db
def test_job_stats_is_one_query(django_assert_num_queries: Any) -> None:
    for status in ("queued", "completed", "failed"):
        job_in_status(status)
    with django_assert_num_queries(1):
        stats = selectors.job_stats()
    assert stats == {"total": 3, "queued": 1, "running": 0, "completed": 1, "failed": 1, "cancelled": 0}


def project_name(job: Job) -> str:
    assert job.project is not None
    return job.project.name


def owners(job: Job) -> tuple[str, str, str]:
    """Who made the job and where: reading it costs no query when the relations were joined."""
    assert job.created_by is not None and job.organization is not None
    return job.created_by.username, job.organization.slug, project_name(job)


@pytest.mark.django_db
def test_job_list_joins_its_relations(django_user_model: Any, django_assert_num_queries: Any) -> None:
    org = Organization.objects.create(name="Org", slug="org")
    for n in range(5):
        user = django_user_model.objects.create_user(username=f"user{n}")
        job_in_status(created_by=user, organization=org, project=Project.objects.create(name=f"p{n}", organization=org))
    # a short first page needs no COUNT: one query, relations included
    with django_assert_num_queries(1):
        page = selectors.job_list(limit=10)
        names = [owners(job) for job in page]
    assert len(names) == 5 and page.total == 5
    with django_assert_num_queries(2):  # a full page: the rows and the count
        page = selectors.job_list(limit=2, offset=2, order_by="created_at", direction="asc")
        [project_name(job) for job in page]
    assert page.total == 5 and [project_name(job) for job in page] == ["p2", "p3"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"order_by": "input"}, "order_by"),
        ({"direction": "up"}, "direction"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"statuses": ["bogus"]}, "status"),
    ],
)
def test_job_list_rejects_bad_arguments(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(JobValidationError) as caught:
        selectors.job_list(**kwargs)
    assert caught.value.field == field


@pytest.mark.django_db
def test_job_get_malformed_and_unknown_ids() -> None:
    with pytest.raises(JobValidationError, match="'nope' is not a valid job id"):
        selectors.job_get(job_id="nope")
    with pytest.raises(JobNotFound):
        selectors.job_get(job_id=str(uuid.uuid4()))
    job = job_in_status()
    assert selectors.job_get(job_id=str(job.pk).upper()) == job


@pytest.mark.django_db
def test_enqueue_job_count_creates_many_in_one_batch():
    out = StringIO()
    call_command("enqueue_job", "demo.sleep", "--input", '{"seconds": 0}', "--count", "30", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["created"] == 30 and len(set(data["ids"])) == 30
    assert Job.objects.filter(type="demo.sleep", status="queued").count() == 30


@pytest.mark.django_db
@pytest.mark.parametrize("extra,text", [
    (["--count", "0"], "--count: must be at least 1"),
    (["--count", "2", "--wait"], "--count cannot be combined with --wait"),
    (["--count", "2", "--dedup-key", "k"], "--count cannot be combined with --dedup-key"),
])
def test_enqueue_job_count_errors(extra, text):
    with pytest.raises(CommandError, match=text):
        call_command("enqueue_job", "demo.sleep", *extra)
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_seed_jobs_inserts_the_count_spread_over_statuses():
    out = StringIO()
    call_command("seed_jobs", "--count", "300", "--users", "3", "--orgs", "2", "--projects", "2", stdout=out)
    assert Job.objects.count() == 300 and "Inserted 300 jobs" in out.getvalue()
    assert Job.objects.values("status").distinct().count() >= 3
    assert Job.objects.filter(created_by__isnull=True).count() == 0
    # failures fall into a few error groups, as a real table's do, each group's errors alike
    failed = list(Job.objects.filter(status="failed").values_list("error", "error_group"))
    assert failed and all(group == error_group(error) != "" for error, group in failed)
    assert len({group for _, group in failed}) <= 4 < len({error for error, _ in failed})
    with pytest.raises(CommandError, match="--count: must be at least 1"):
        call_command("seed_jobs", "--count", "0")
