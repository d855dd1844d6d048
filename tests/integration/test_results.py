"""The result backend: django-celery-results' rows, written with one upsert."""
from __future__ import annotations

from typing import Any

import pytest
from celery import states
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_results.models import TaskResult

from config.celery import app

pytestmark = pytest.mark.django_db


def test_a_result_is_one_statement_and_a_second_one_updates_the_row():
    backend = app.backend
    with CaptureQueriesContext(connection) as queries:
        backend.store_result("task-1", None, states.STARTED)
    assert len(queries) == 1
    backend.store_result("task-1", {"job": "j1", "outcome": "completed"}, states.SUCCESS)
    row = TaskResult.objects.get(task_id="task-1")
    assert row.status == states.SUCCESS and '"completed"' in row.result and row.date_started is not None
    assert TaskResult.objects.count() == 1
    assert backend.get_task_meta("task-1")["result"] == {"job": "j1", "outcome": "completed"}


class _Request:
    """The parts of a Celery request that the result backend reads."""

    def __init__(self, task_id: str) -> None:
        self.id = task_id
        self.task = "jobs.run_job"
        self.args = ["job", "token"]
        self.kwargs = {"job_type": "demo.sleep"}
        self.hostname = "w1@test"
        self.retries = 0
        self.delivery_info = {"routing_key": "default"}
        self.properties: dict[str, Any] = {}
        self.ignore_result = False


def _claimed_job():
    from jobs import services
    from tests.factories import make_job

    job = make_job()
    return services.job_claim(job_id=job.pk, token=job.token, worker="w1@test")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the combined statement is PostgreSQL's")
def test_a_completion_writes_celerys_result_row_in_its_own_statement_and_the_backend_skips_it():
    from jobs.storage.result_backend import DeliveryResult

    job = _claimed_job()
    request = _Request("task-2")
    delivery = DeliveryResult(app.backend, "task-2", request)
    summary = {"job": str(job.pk), "outcome": "completed", "attempt": 1}
    from jobs import services

    with CaptureQueriesContext(connection) as queries:
        assert services.job_complete(job=job, result={"rows": 1}, task_result=delivery, summary=summary) is True
    assert len(queries) == 1
    row = TaskResult.objects.get(task_id="task-2")
    assert (row.status, row.task_name, row.worker) == (states.SUCCESS, "jobs.run_job", "w1@test")
    assert app.backend.get_task_meta("task-2")["result"] == summary
    # the runner marks the request; Celery's own store after the task then writes nothing
    delivery.mark_stored()
    with CaptureQueriesContext(connection) as queries:
        app.backend.store_result("task-2", summary, states.SUCCESS, request=request)
    assert len(queries) == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the combined statement is PostgreSQL's")
def test_a_run_is_two_statements_claim_and_completion_with_the_result_row():
    from jobs.models import Job
    from jobs.storage.result_backend import STORED_WITH_JOB, DeliveryResult
    from jobs.worker.run import execute
    from tests.factories import make_job

    job = make_job(type="test.noop")
    request = _Request("task-3")
    with CaptureQueriesContext(connection) as queries:
        outcome = execute(str(job.pk), str(job.token), worker="w1@test", job_type="test.noop", heartbeat=False,
                          task_result=DeliveryResult(app.backend, "task-3", request))
    assert outcome["outcome"] == "completed"
    assert len(queries) == 2, [q["sql"][:80] for q in queries]
    assert getattr(request, STORED_WITH_JOB) is True
    assert Job.objects.get(pk=job.pk).status == "completed"
    assert TaskResult.objects.filter(task_id="task-3", status=states.SUCCESS).exists()


def test_without_the_combined_statement_the_backend_stores_the_result_itself():
    """A run that failed, or any run on SQLite: the request is not marked, the backend writes."""
    request = _Request("task-4")
    app.backend.store_result("task-4", {"outcome": "failed"}, states.SUCCESS, request=request)
    assert TaskResult.objects.filter(task_id="task-4").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_the_claim_and_the_completion_are_prepared_once_per_connection():
    from jobs import services

    for _ in range(2):
        job = _claimed_job()
        services.job_complete(job=job, result=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert sum('UPDATE "jobs_job"' in s and '"attempts" = "attempts" + 1' in s for s in prepared) == 1
    assert sum("\"status\" = 'completed'" in s for s in prepared) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_prepared_statements_can_be_turned_off(settings):
    from jobs import services

    settings.JOBS_PREPARED_STATEMENTS = False
    services.job_complete(job=_claimed_job(), result=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%jobs_job%%'")
        assert cursor.fetchone()[0] == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_django_cursors_are_left_as_they_were():
    from jobs import services

    services.job_complete(job=_claimed_job(), result=None)
    assert connection.connection.prepare_threshold is None  # Django's default: its cursors prepare nothing


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_claim_prepared_before_a_migration_changed_its_columns_is_prepared_again():
    from jobs import services

    services.job_complete(job=_claimed_job(), result=None)  # the claim is prepared on this connection
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE jobs_job ALTER COLUMN worker TYPE varchar(300)")
    try:
        claimed = _claimed_job()
        assert claimed is not None and claimed.status == "running"
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE jobs_job ALTER COLUMN worker TYPE varchar(255)")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the combined statement is PostgreSQL's")
def test_a_completion_retried_after_its_commit_landed_counts_as_stored():
    """The database committed the completion but the answer was lost: the retry finds its own
    completion instead of discarding the job's outcome."""
    from jobs import services
    from jobs.models import Job
    from jobs.storage.result_backend import DeliveryResult

    job = _claimed_job()
    delivery = DeliveryResult(app.backend, "task-5", _Request("task-5"))
    summary = {"job": str(job.pk), "outcome": "completed", "attempt": 1}
    assert services.job_complete(job=job, result={"n": 1}, task_result=delivery, summary=summary) is True
    assert services.job_complete(job=job, result={"n": 1}, task_result=delivery, summary=summary) is True
    assert Job.objects.get(pk=job.pk).status == "completed"
    assert app.backend.get_task_meta("task-5")["result"] == summary
