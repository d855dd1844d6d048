"""A real worker with LOG_FORMAT=json: every line logged while it runs a job, by the platform,
the handler (its logger and its stdout) or Celery, is a JSON object carrying the job's id,
type, attempt, queue and worker; lines about nothing in particular carry none of them."""
from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from handlers.registry import unregister
from jobs import services
from jobs.models import Job
from telemetry.logs import FIELDS
from tests import logging_handlers
from tests.processes import ProcessGroup, wait_for
from tests.settings import TEST_ENVIRONMENT

pytestmark = pytest.mark.workers


@pytest.fixture
def logs_itself() -> Iterator[str]:
    """The handler type test.logs_itself, known to this process for the test's duration."""
    logging_handlers.register()
    yield logging_handlers.LOGS_ITSELF
    unregister(logging_handlers.LOGS_ITSELF)


def json_lines(log: str) -> list[dict]:
    """The worker's log lines that are JSON objects (Celery's start-up banner is not a log line)."""
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def test_every_line_logged_during_a_job_carries_the_job(processes: ProcessGroup, logs_itself: str) -> None:
    modules = f"{TEST_ENVIRONMENT['JOBS_HANDLER_MODULES']},tests.logging_handlers"
    worker = processes.worker(env={"LOG_FORMAT": "json", "JOBS_HANDLER_MODULES": modules}, concurrency=2)
    worker_name = f"{worker.name}@{socket.gethostname()}"
    logging_job = services.job_create(type=logs_itself).job
    flaky_job = services.job_create(type="test.flaky_fast", input={"failures": 1}).job
    wait_for(lambda: Job.objects.filter(pk__in=[logging_job.pk, flaky_job.pk], status="completed").count() == 2,
             timeout=60, message="both jobs to complete")
    flaky_id = str(flaky_job.pk)
    # Celery's "succeeded" line is the last one logged during the second attempt
    wait_for(lambda: any(line.get("job_id") == flaky_id and line.get("attempt") == 2 and "succeeded" in line["message"]
                         for line in json_lines(worker.log())), message="the second attempt's last line")

    log = worker.log()
    lines = json_lines(log)
    assert len(lines) == len([line for line in log.splitlines() if line.startswith(("{", "20"))]), \
        "a log line that is not JSON"
    assert any(line["message"] == f"{worker_name} ready." and not set(FIELDS) & set(line) for line in lines)

    def about(job: Job) -> list[dict]:
        return [line for line in lines if line.get("job_id") == str(job.pk)]

    logging_id = str(logging_job.pk)
    expected = {"job_id": logging_id, "job_type": logs_itself, "attempt": 1, "queue": "default", "worker": worker_name}
    mine = about(logging_job)
    assert all({name: line.get(name) for name in FIELDS} == expected for line in mine), mine
    by_logger = {line["logger"]: line["message"] for line in mine}
    assert by_logger["tests.logging_handlers"] == f"handler line of {logging_id}"  # the handler's logger
    assert by_logger["celery.redirected"] == f"handler print of {logging_id}"  # its stdout, through Celery
    assert by_logger["conveyor.worker"].startswith(f"job {logging_id} [{logs_itself}] attempt 1/")  # the platform
    assert by_logger["celery.app.trace"].startswith("Task jobs.run_job[")  # Celery's own
    assert "succeeded" in by_logger["celery.app.trace"]

    flaky = about(flaky_job)
    assert {line["attempt"] for line in flaky} == {1, 2}
    assert all((line["job_type"], line["queue"], line["worker"]) == ("test.flaky_fast", "default", worker_name)
               for line in flaky)
    assert any(line["attempt"] == 1 and line["level"] == "WARNING" and "planned failure" in line["message"]
               for line in flaky)
    assert any(line["attempt"] == 2 and "completed on attempt 2" in line["message"] for line in flaky)
    # no line of the worker names one of these jobs in its text without carrying it
    for line in lines:
        for job_id in (logging_id, flaky_id):
            if job_id in line["message"]:
                assert line.get("job_id") == job_id, line
