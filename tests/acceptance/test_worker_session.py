"""Workers commit without waiting for the disk (PostgreSQL); everything else commits durably."""
from __future__ import annotations

import pytest
from django.db import connection

from jobs import services
from jobs.models import Job
from tests.processes import ProcessGroup, wait_for

pytestmark = [pytest.mark.workers, pytest.mark.skipif(connection.vendor != "postgresql",
                                                      reason="synchronous_commit is a PostgreSQL setting")]


def _session_setting_on_worker(processes: ProcessGroup, env: dict[str, str] | None = None) -> str:
    worker = processes.worker(pool="solo", concurrency=1, env=env)
    job = services.job_create(type="test.session_settings").job
    wait_for(lambda: Job.objects.filter(pk=job.pk, status="completed").exists(), message="the job to complete")
    worker.stop()
    result = Job.objects.get(pk=job.pk).result
    assert result is not None
    return result["synchronous_commit"]


def test_worker_sessions_commit_asynchronously_and_the_creating_session_durably(processes):
    assert _session_setting_on_worker(processes) == "off"
    with connection.cursor() as cursor:  # this process created the job: not a worker
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


def test_the_setting_keeps_worker_commits_durable(processes):
    assert _session_setting_on_worker(processes, env={"JOBS_WORKER_SYNCHRONOUS_COMMIT": "1"}) == "on"


@pytest.mark.django_db
def test_a_schedule_tick_commits_durably_even_on_a_worker(monkeypatch):
    from django.db import transaction

    from jobs.storage import durability

    monkeypatch.setattr(durability, "_in_worker", True)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO off")  # as a worker's session
        durability.commit_durably()
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"

