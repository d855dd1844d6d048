"""Nothing is lost: a worker killed or stopped, Redis down at enqueue or restarted.

Each test runs its own workers and beat (for the rescuer and the sweeper, at the short
intervals of tests/settings.py); tests that stop Redis run their own on a free port.
"""
from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from jobs import services
from jobs.models import Job, JobAttempt
from tests.processes import wait_for

pytestmark = [pytest.mark.workers, pytest.mark.slow]


def status_of(job: Job) -> str:
    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


def wait_status(job: Job, status: str, timeout: float = 60) -> Job:
    wait_for(lambda: status_of(job) == status, timeout=timeout, message=f"job {job.pk} to be {status}")
    return Job.objects.get(pk=job.pk)


def attempts_of(job: Job) -> list[tuple[int, str]]:
    return list(JobAttempt.objects.filter(job=job).order_by("number").values_list("number", "outcome"))


def outcomes(job: Job) -> list[str]:
    return list(JobAttempt.objects.filter(job=job).order_by("number").values_list("outcome", flat=True))


def test_sigkill_of_the_worker_the_job_runs_again_on_another(processes):
    first = processes.worker()
    job = services.job_create(type="demo.sleep", input={"seconds": 4, "steps": 20}).job
    wait_for(lambda: Job.objects.get(pk=job.pk).progress > 0, message="the job to be running")
    first.kill_group()
    killed_at = time.monotonic()
    processes.worker()
    processes.beat()
    wait_for(lambda: JobAttempt.objects.filter(job=job, number=2).exists(), timeout=60, message="a second attempt")
    rerun_after = time.monotonic() - killed_at
    done = wait_status(job, "completed")
    assert done.attempts == 2 and done.rescues == 1
    assert outcomes(job) == ["lost", "completed"]
    print(f"\nSIGKILL -> running again on another worker after {rerun_after:.1f}s "
          f"(heartbeat timeout 3s, rescuer every 1s)")


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_sigterm_past_the_grace_period_puts_the_job_back_and_another_worker_finishes_it(processes, pool):
    first = processes.worker(pool=pool, concurrency=1 if pool == "solo" else 2)
    job = services.job_create(type="demo.sleep", input={"seconds": 8, "steps": 40}).job
    wait_for(lambda: Job.objects.get(pk=job.pk).progress > 0, message="the job to be running")
    first.signal(signal.SIGTERM)
    first.wait(timeout=30)  # grace is 2 s in tests
    released = Job.objects.get(pk=job.pk)
    assert released.status == "queued" and released.progress < 100
    assert outcomes(job) == ["interrupted"]
    processes.worker()
    done = wait_status(job, "completed")
    assert done.attempts == 2 and outcomes(job) == ["interrupted", "completed"]


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_sigterm_within_the_grace_period_lets_the_job_finish(processes, pool):
    first = processes.worker(pool=pool, concurrency=1 if pool == "solo" else 2, env={"JOBS_SHUTDOWN_GRACE": "30"})
    job = services.job_create(type="demo.sleep", input={"seconds": 2, "steps": 10}).job
    wait_for(lambda: Job.objects.get(pk=job.pk).progress > 0, message="the job to be running")
    first.signal(signal.SIGTERM)
    first.wait(timeout=30)
    done = Job.objects.get(pk=job.pk)
    assert done.status == "completed" and outcomes(job) == ["completed"]


def test_redis_down_at_enqueue_the_job_is_kept_and_runs_once_redis_is_back(processes, own_redis):
    env = {"REDIS_URL": own_redis.url}
    processes.worker(env=env)
    processes.beat(env=env)
    own_redis.stop()
    started = time.monotonic()
    job = services.job_create(type="demo.sleep", input={"seconds": 0.2, "steps": 1}).job
    print(f"\njob_create with Redis down returned in {time.monotonic() - started:.2f}s")
    held = Job.objects.get(pk=job.pk)
    assert held.status == "queued" and held.dispatched_at is None  # held for the sweeper
    own_redis.start()
    done = wait_status(job, "completed", timeout=90)
    assert done.attempts == 1


def handler_runs(path: Path) -> Counter[str]:
    """How many times test.count's handler ran, per job id (one line per run)."""
    return Counter(line.split()[0] for line in path.read_text().splitlines()) if path.exists() else Counter()


def test_redis_restarted_while_jobs_are_queued_and_running_every_job_completes_once(processes, own_redis, tmp_path):
    """Redis comes back empty: the running jobs' unacknowledged messages and the queued jobs'
    messages are gone. The running handlers go on and complete; the sweeper republishes the
    queued jobs (a publish spends no attempt); of two messages for one job (one a worker took
    before the restart, one the sweeper sent), the second claims nothing. So every job completes
    on its first attempt, and its handler ran exactly once."""
    env = {"REDIS_URL": own_redis.url}
    processes.worker(env=env, concurrency=2)
    processes.beat(env=env)
    runs = tmp_path / "runs.txt"
    jobs = [services.job_create(type="test.count", input={"path": str(runs), "seconds": 2}).job for _ in range(6)]
    ids = [job.pk for job in jobs]
    wait_for(lambda: Job.objects.filter(pk__in=ids, status="running").count() == 2, message="two jobs running")
    running = set(Job.objects.filter(pk__in=ids, status="running").values_list("pk", flat=True))
    own_redis.stop()
    time.sleep(1)  # the outage itself
    own_redis.start()
    for job in jobs:
        wait_status(job, "completed", timeout=120)

    done = {job.pk: job for job in Job.objects.filter(pk__in=ids)}
    for pk in ids:
        job = done[pk]
        where = "running" if pk in running else "queued"
        assert (job.status, job.attempts, job.rescues) == ("completed", 1, 0), f"{where} job {pk}"
        assert attempts_of(job) == [(1, "completed")], f"{where} job {pk}"
        assert JobAttempt.objects.filter(job=job).count() == job.attempts
    assert handler_runs(runs) == {str(pk): 1 for pk in ids}, "a handler ran twice or never"
