"""The life of a job on real Celery workers, real Redis and the real database."""
from __future__ import annotations

import pytest

from jobs import publishing, services
from jobs.models import Job, JobAttempt
from tests.processes import wait_for

pytestmark = pytest.mark.workers


def status_of(job: Job) -> str:
    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


def wait_status(job: Job, status: str, timeout: float = 30) -> Job:
    wait_for(lambda: status_of(job) == status, timeout=timeout, message=f"job {job.pk} to be {status}")
    return Job.objects.get(pk=job.pk)


def outcomes(job: Job) -> list[tuple[int, str]]:
    return list(JobAttempt.objects.filter(job=job).order_by("number").values_list("number", "outcome"))


def test_a_job_runs_to_completion_with_progress_result_and_one_attempt(processes):
    processes.worker()
    job = services.job_create(type="demo.sleep", input={"seconds": 0.6, "steps": 3}).job
    done = wait_status(job, "completed")
    assert (done.progress, done.result, done.attempts) == (100, {"slept": 0.6, "steps": 3}, 1)
    assert done.started_at and done.completed_at and done.started_at <= done.completed_at
    assert done.actual_duration >= 0.6
    assert outcomes(job) == [(1, "completed")]
    assert JobAttempt.objects.get(job=job).worker.startswith("worker-")
    # Celery's own record of the task, in django-celery-results
    from django_celery_results.models import TaskResult

    stored = wait_for(lambda: TaskResult.objects.filter(task_name="jobs.run_job", status="SUCCESS").first(),
                      message="the task result to be stored")
    assert str(job.pk) in stored.result and '"completed"' in stored.result


def test_flaky_job_failing_twice_completes_on_the_third_attempt(processes):
    processes.worker()
    job = services.job_create(type="test.flaky_fast", input={"failures": 2}).job
    done = wait_status(job, "completed")
    assert done.result == {"succeeded_on_attempt": 3}
    assert outcomes(job) == [(1, "failed"), (2, "failed"), (3, "completed")]
    errors = list(JobAttempt.objects.filter(job=job).order_by("number").values_list("error", flat=True))
    assert "attempt 1" in errors[0] and "attempt 2" in errors[1] and errors[2] == ""
    # the delay between attempts follows the policy (0.2 s, then 1 s): never earlier
    starts = list(JobAttempt.objects.filter(job=job).order_by("number").values_list("started_at", flat=True))
    assert (starts[1] - starts[0]).total_seconds() >= 0.2
    assert (starts[2] - starts[1]).total_seconds() >= 1.0


def test_a_job_that_always_fails_ends_failed_after_three_attempts(processes):
    processes.worker()
    job = services.job_create(type="test.flaky_fast", input={"failures": 99}).job
    done = wait_status(job, "failed")
    assert done.attempts == 3 and "planned failure on attempt 3" in done.error
    assert "RetryableError" in done.error_traceback
    assert outcomes(job) == [(1, "failed"), (2, "failed"), (3, "failed_final")]


def test_the_same_message_twice_runs_the_handler_once(processes, tmp_path):
    marker = tmp_path / "runs.txt"
    job = services.job_create(type="test.count", input={"path": str(marker)}).job
    publishing.send_run_job(job_id=job.pk, token=job.token, job_type=job.type, queue=job.queue,
                          priority=job.priority, countdown=None)
    worker = processes.worker()
    wait_status(job, "completed")
    wait_for(lambda: worker.log().count("claims nothing") >= 1, message="the duplicate to be acked")
    assert marker.read_text().count(str(job.pk)) == 1
    assert outcomes(job) == [(1, "completed")]


def test_a_stale_message_after_a_retry_does_nothing(processes, tmp_path):
    marker = tmp_path / "runs.txt"
    job = Job.objects.get(pk=services.job_create(type="test.count", input={"path": str(marker)}).job.pk)
    stale_token = job.token
    worker = processes.worker()
    wait_status(job, "completed")
    # a user retries it: new token; then the old message shows up again
    Job.objects.filter(pk=job.pk).update(status="failed")  # set-up: make it retryable
    services.job_retry(job_id=job.pk)
    wait_status(job, "completed")
    publishing.send_run_job(job_id=job.pk, token=stale_token, job_type=job.type, queue=job.queue,
                          priority=job.priority, countdown=None)
    wait_for(lambda: f"token {stale_token}" in worker.log(), message="the stale message to be acked")
    assert marker.read_text().count(str(job.pk)) == 2
    assert Job.objects.get(pk=job.pk).attempts == 2


def test_cancelled_queued_job_never_runs(processes, tmp_path):
    marker = tmp_path / "runs.txt"
    worker = processes.worker()
    job = services.job_create(type="test.count", input={"path": str(marker)}, delay=1.5).job
    services.job_cancel(job_id=job.pk)
    wait_for(lambda: f"token {job.token}" in worker.log(), timeout=30, message="the message to be acked")
    assert status_of(job) == "cancelled"
    assert not marker.exists() and outcomes(job) == []


def test_cancel_running_job_stops_at_its_next_progress_call(processes):
    processes.worker()
    job = services.job_create(type="demo.sleep", input={"seconds": 30, "steps": 150}).job
    wait_for(lambda: Job.objects.get(pk=job.pk).progress > 0, message="progress")
    services.job_cancel(job_id=job.pk)
    done = wait_status(job, "cancelled", timeout=15)
    assert done.progress < 100 and done.completed_at is not None
    assert outcomes(job) == [(1, "cancelled")]


def test_retry_of_a_failed_job_runs_it_again(processes):
    processes.worker()
    job = services.job_create(type="test.flaky_fast", input={"failures": 3}).job
    wait_status(job, "failed")
    services.job_retry(job_id=job.pk)
    done = wait_status(job, "completed")
    assert done.result == {"succeeded_on_attempt": 4}
    assert [n for n, _ in outcomes(job)] == [1, 2, 3, 4]


def test_priority_one_runs_before_priority_ten_in_a_backlog(processes, tmp_path):
    marker = tmp_path / "order.txt"
    blocker = services.job_create(type="demo.sleep", input={"seconds": 1.5, "steps": 1}).job
    low = [services.job_create(type="test.count", input={"path": str(marker)}, priority=10).job for _ in range(3)]
    high = [services.job_create(type="test.count", input={"path": str(marker)}, priority=1).job for _ in range(3)]
    processes.worker(concurrency=1)
    for job in [blocker, *low, *high]:
        wait_status(job, "completed")
    order = [line.split()[0] for line in marker.read_text().splitlines()]
    # the worker starts on a backlog of mixed priorities: the most urgent come first
    assert set(order[:3]) == {str(j.pk) for j in high}


def test_jobs_created_in_bulk_are_published_in_a_batch_and_all_run(processes):
    processes.worker()
    jobs = services.jobs_create_bulk(type="demo.sleep", inputs=[{"seconds": 0, "steps": 1}] * 50)
    ids = [j.pk for j in jobs]
    wait_for(lambda: Job.objects.filter(pk__in=ids, status="completed").count() == 50, timeout=60,
             message="50 bulk jobs to complete")
    assert JobAttempt.objects.filter(job_id__in=ids).count() == 50
