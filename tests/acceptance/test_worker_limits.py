"""Limits and recovery that hold under backlog and faults, with real workers, beat and Redis.

Jobs of a limited type wait in the database and get a message only when their limit has room
(`jobs.services.gates`); the sweeper decides that a message was lost from how far workers have taken
its queue (`jobs.services.sweeper`). The big runs use the README's default recovery settings, not the
suite's short ones: that is what a new user runs.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from config.embedded_redis import EmbeddedRedis
from jobs import publishing, services
from jobs.models import Job, JobAttempt
from tests.acceptance.test_worker_policies import events, max_overlap
from tests.handlers import DELIVERIES_ENV
from tests.processes import BASE_DIR, ProcessGroup, wait_for

pytestmark = [pytest.mark.workers, pytest.mark.slow]

# The README's defaults for everything that times recovery (checked against config.settings below).
DEFAULT_RECOVERY = {
    "JOBS_HEARTBEAT_INTERVAL": "5.0",
    "JOBS_HEARTBEAT_TIMEOUT": "30.0",
    "JOBS_RESCUE_INTERVAL": "15.0",
    "JOBS_SWEEP_INTERVAL": "15.0",
    "JOBS_SWEEP_UNCLAIMED_AFTER": "120.0",
    "JOBS_SWEEP_OVERTAKEN_AFTER": "10.0",
}


def test_the_default_recovery_settings_are_the_ones_these_tests_use():
    code = ("import os, json; [os.environ.pop(k) for k in list(os.environ) if k.startswith('JOBS_')];"
            "os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings';"
            "import django; django.setup(); from django.conf import settings;"
            f"print(json.dumps({{k: str(float(getattr(settings, k))) for k in {list(DEFAULT_RECOVERY)!r}}}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == DEFAULT_RECOVERY


def deliveries(folder: Path) -> list[str]:
    return [line for path in folder.glob("*.txt") for line in path.read_text().split()]


def all_completed(ids: list, timeout: float) -> None:
    wait_for(lambda: Job.objects.filter(pk__in=ids, status="completed").count() == len(ids), timeout=timeout,
             interval=1, message=f"{len(ids)} jobs to complete")


def backlog_run(processes, tmp_path, *, job_type: str, inputs: list[dict], env: dict[str, str]):
    """Three workers (prefork -c 2) and beat drain a backlog created at once; returns the jobs,
    the handler's start/end events and the deliveries per job id."""
    counted = tmp_path / "deliveries"
    counted.mkdir()
    env = {**env, DELIVERIES_ENV: str(counted)}
    for _ in range(3):
        processes.worker(concurrency=2, env=env)
    processes.beat(env=env)
    jobs = services.jobs_create_bulk(type=job_type, inputs=inputs)
    ids = [job.pk for job in jobs]
    all_completed(ids, timeout=600)
    assert set(JobAttempt.objects.filter(job_id__in=ids).values_list("outcome", flat=True)) == {"completed"}
    return jobs, deliveries(counted)


def test_a_backlog_of_a_concurrency_2_type_never_runs_more_than_2_and_does_not_spin(processes, tmp_path):
    marks = tmp_path / "marks.txt"
    n = 2000
    jobs, delivered = backlog_run(processes, tmp_path, job_type="test.limited2", env=DEFAULT_RECOVERY,
                                  inputs=[{"path": str(marks), "max_seconds": 0.03}] * n)
    rows = events(marks)
    assert len([e for e in rows if e[0] == "start"]) == n  # each job ran once
    assert max_overlap(rows) == 2
    ran_nothing = len(delivered) - n
    print(f"\n{n} jobs, concurrency 2: {len(delivered)} deliveries, {ran_nothing / n:.3f} that ran nothing per job")
    assert ran_nothing / n < 2


def test_a_per_key_limit_of_1_across_two_keys(processes, tmp_path):
    marks = tmp_path / "marks.txt"
    n = 2000
    inputs = [{"path": str(marks), "max_seconds": 0.03, "key": "ab"[i % 2]} for i in range(n)]
    jobs, delivered = backlog_run(processes, tmp_path, job_type="test.per_key", env=DEFAULT_RECOVERY, inputs=inputs)
    rows = events(marks)
    by_key = {key: {str(job.pk) for job, given in zip(jobs, inputs) if given["key"] == key} for key in "ab"}
    assert max_overlap(rows, by_key["a"]) == 1 and max_overlap(rows, by_key["b"]) == 1
    assert max_overlap(rows) == 2  # the keys do not wait for each other
    ran_nothing = len(delivered) - n
    print(f"\n{n} jobs, 1 per key over 2 keys: {ran_nothing / n:.3f} deliveries that ran nothing per job")
    assert ran_nothing / n < 2


def test_a_type_limited_to_1_stays_sequential_while_the_sweeper_runs_every_second(processes, tmp_path):
    # the suite's short settings: the sweeper runs every second and calls a message lost
    # after one, the hardest case for a limit
    marks = tmp_path / "marks.txt"
    jobs, delivered = backlog_run(processes, tmp_path, job_type="test.limited1", env={},
                                  inputs=[{"path": str(marks), "max_seconds": 0.05}] * 300)
    rows = events(marks)
    assert len([e for e in rows if e[0] == "start"]) == 300
    assert max_overlap(rows) == 1


def test_a_stale_message_during_the_new_execution_leaves_its_slot_alone(processes, tmp_path):
    marks = tmp_path / "marks.txt"
    worker = processes.worker(concurrency=2)
    job = services.job_create(type="test.limited1", input={"path": str(marks), "seconds": 3}).job
    created_token = job.token  # the admission gave the running execution another token
    wait_for(lambda: any(e == "start" for e, _, _ in events(marks)), message="the job to start")
    waiting = services.job_create(type="test.limited1", input={"path": str(marks), "seconds": 0.1}).job
    publishing.send_run_job(job_id=job.pk, token=created_token, job_type=job.type, queue=job.queue,
                          priority=job.priority, countdown=None)
    wait_for(lambda: f"token {created_token} claims nothing" in worker.log(), message="the stale message")
    all_completed([job.pk, waiting.pk], timeout=60)
    assert max_overlap(events(marks)) == 1
    started = {job_id: at for event, job_id, at in events(marks) if event == "start"}
    ended = {job_id: at for event, job_id, at in events(marks) if event == "end"}
    assert started[str(waiting.pk)] >= ended[str(job.pk)]


def test_redis_restarted_under_steady_load_every_lost_job_runs_soon_and_once(
    processes: ProcessGroup, own_redis: EmbeddedRedis, tmp_path: Path,
) -> None:
    counts = tmp_path / "runs.txt"
    env = {"REDIS_URL": own_redis.url, **DEFAULT_RECOVERY}
    processes.worker(concurrency=2, env=env)
    processes.worker(concurrency=2, env=env)
    processes.beat(env=env)

    def create(n: int) -> list:
        return [services.job_create(type="test.count", input={"path": str(counts), "seconds": 0.05}).job.pk
                for _ in range(n)]

    # a backlog in Redis: more than the workers take in the time before the restart
    before = create(600)
    time.sleep(1)
    own_redis.stop()
    restarted_at = timezone.now()
    own_redis.start()
    lost = list(Job.objects.filter(pk__in=before, status="queued").values_list("pk", flat=True))
    # new work keeps arriving, so the queue is never empty
    after: list = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        after += create(10)
        time.sleep(1)
    all_completed(before + after, timeout=300)
    bound = float(DEFAULT_RECOVERY["JOBS_SWEEP_INTERVAL"]) + 60
    late = Job.objects.filter(pk__in=lost, started_at__gt=restarted_at + timedelta(seconds=bound))
    assert len(lost) > 50, "the restart should have found a backlog to lose"
    starts = list(Job.objects.filter(pk__in=lost).values_list("started_at", flat=True))
    assert None not in starts, "every lost job ran"
    last_start = max(start for start in starts if start is not None)
    print(f"\n{len(lost)} messages lost at the restart; the last lost job started "
          f"{(last_start - restarted_at).total_seconds():.1f}s after it")
    assert not late.exists(), f"{late.count()} lost jobs started later than {bound}s after the restart"
    runs = [line.split()[0] for line in counts.read_text().splitlines()]
    assert len(runs) == len(set(runs)) == len(before) + len(after)  # no job ran twice because of the sweep
    assert set(Job.objects.filter(pk__in=before + after).values_list("attempts", flat=True)) == {1}
