"""Liveness of real workers and a real beat: their records in Redis, their files, and
`manage.py liveness` run as a probe runs it (its exit status)."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from jobs import services
from jobs.models import Job
from jobs.testing import jobs_recorded
from telemetry import liveness
from tests.factories import job_in_status
from tests.processes import BASE_DIR, Process, ProcessGroup, child_environment, wait_for

pytestmark = pytest.mark.workers

INTERVAL, MAX_AGE = 0.5, 3.0


def fast_liveness(tmp_path: Path, max_age: float = MAX_AGE) -> dict[str, str]:
    return {"JOBS_LIVENESS_INTERVAL": str(INTERVAL), "JOBS_LIVENESS_MAX_AGE": str(max_age),
            "JOBS_LIVENESS_DIR": str(tmp_path / "liveness")}


def probe(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`manage.py liveness ...` in a process of its own, as a container's health check runs it."""
    return subprocess.run([sys.executable, "manage.py", "liveness", *args], cwd=BASE_DIR,
                          env=child_environment(**env), capture_output=True, text=True, timeout=120)


def node_name(process: Process) -> str:
    return f"{process.name}@{socket.gethostname()}"


def record_of(name: str) -> liveness.WorkerRecord | None:
    return next((record for record in liveness.live_workers() if record.name == name), None)


def start_beat(processes: ProcessGroup, env: dict[str, str]) -> Process:
    """beat with the project's scheduler, as the Procfile and deploy/ start it."""
    args = [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "INFO", "--max-interval", "1",
            "-S", "scheduler.beat_scheduler:BeatScheduler"]
    beat = Process(f"beat-{time.monotonic_ns() % 10**6}", args, child_environment(**env), processes.log_dir)
    processes.processes.append(beat)
    return beat.start(ready_text="beat: Starting")


def test_a_worker_says_it_is_live_and_stops_saying_so_while_it_is_frozen(processes: ProcessGroup,
                                                                        tmp_path: Path) -> None:
    env = fast_liveness(tmp_path)
    worker = processes.worker(env=env, concurrency=2)
    name = node_name(worker)
    record = wait_for(lambda: record_of(name), message="the worker's liveness record")
    assert isinstance(record, liveness.WorkerRecord)
    assert (record.pid, record.hostname, record.queues, record.concurrency, record.busy) == (
        worker.pid, socket.gethostname(), ("default", "system"), 2, 0)

    job = services.job_create(type="test.stubborn", input={"seconds": 4}).job
    wait_for(lambda: (record_of(name) or record).busy == 1, message="the record to count the running job")
    wait_for(lambda: Job.objects.get(pk=job.pk).status == "completed", message="the job to complete")
    wait_for(lambda: (record_of(name) or record).busy == 0, message="the record to count no running job")

    assert probe(env, "worker", "--name", f"{worker.name}@%h").returncode == 0
    assert probe(env, "queues", "default", "system").returncode == 0
    no_consumer = probe(env, "queues", "default", "nowhere")
    assert no_consumer.returncode == 1 and "no live worker consumes nowhere." in no_consumer.stderr

    worker.signal(signal.SIGSTOP)  # as a main process that hangs
    try:
        wait_for(lambda: probe(env, "worker", "--name", f"{worker.name}@%h").returncode == 1, timeout=60,
                 message="the frozen worker's probe to fail")
        wait_for(lambda: record_of(name) is None, timeout=60, message="the frozen worker's record to expire")
        assert probe(env, "queues", "system").returncode == 1
    finally:
        worker.signal(signal.SIGCONT)
    wait_for(lambda: record_of(name) is not None, timeout=60, message="the record of the thawed worker")
    assert probe(env, "worker", "--name", f"{worker.name}@%h").returncode == 0


def test_a_warm_shutdown_removes_the_record_and_the_file(processes: ProcessGroup, tmp_path: Path) -> None:
    env = fast_liveness(tmp_path, max_age=600)  # only their removal can make them go within the test
    worker = processes.worker(env=env, pool="prefork", concurrency=1)
    name = node_name(worker)
    wait_for(lambda: record_of(name), message="the worker's liveness record")
    assert probe(env, "worker", "--name", f"{worker.name}@%h").returncode == 0
    worker.stop()
    assert worker.wait(timeout=30) == 0
    assert record_of(name) is None
    gone = probe(env, "worker", "--name", f"{worker.name}@%h")
    assert gone.returncode == 1 and "has no liveness file" in gone.stderr


def test_a_solo_worker_running_a_job_longer_than_the_limit_stays_live(processes: ProcessGroup,
                                                                      tmp_path: Path) -> None:
    """The solo pool runs the job in the event loop, which does not turn meanwhile."""
    env = fast_liveness(tmp_path)
    worker = processes.worker(env=env, pool="solo", concurrency=1)
    name = node_name(worker)
    wait_for(lambda: record_of(name), message="the worker's liveness record")
    job = services.job_create(type="test.stubborn", input={"seconds": 4 * MAX_AGE}).job
    wait_for(lambda: Job.objects.get(pk=job.pk).status == "running", message="the job to start")
    with override_settings(JOBS_LIVENESS_DIR=env["JOBS_LIVENESS_DIR"]):
        path = liveness.worker_file(name)
    ages: list[float | None] = []
    busy: list[int | None] = []
    probed_past_the_limit = None
    while Job.objects.get(pk=job.pk).status == "running":
        ages.append(liveness.file_age(path))
        record = record_of(name)
        busy.append(record.busy if record else None)
        started = Job.objects.get(pk=job.pk).started_at
        if probed_past_the_limit is None and started and timezone.now() - started > timedelta(seconds=MAX_AGE + 1):
            probed_past_the_limit = probe(env, "worker", "--name", f"{worker.name}@%h").returncode
        time.sleep(0.2)
    assert Job.objects.get(pk=job.pk).status == "completed"
    assert probed_past_the_limit == 0
    assert ages and all(age is not None and age < MAX_AGE for age in ages), ages
    assert 1 in busy


def test_beat_records_its_ticks_and_stops_when_beat_stops(processes: ProcessGroup, tmp_path: Path) -> None:
    env = fast_liveness(tmp_path)
    beat = start_beat(processes, env)
    wait_for(lambda: probe(env, "beat").returncode == 0, timeout=60, message="beat's liveness file")
    wait_for(lambda: (liveness.last_beat() or liveness.BeatRecord(0, "", 0)).pid == beat.pid, timeout=60,
             message="beat's tick in Redis")
    assert probe(env, "beat", "--redis").returncode == 0
    beat.stop()
    wait_for(lambda: probe(env, "beat").returncode == 1, timeout=60, message="the stopped beat's probe to fail")
    gone = probe(env, "beat", "--redis")
    assert gone.returncode == 1 and "beat is not live: its last tick" in gone.stderr, gone.stderr


def _rescuer_lines(log: str) -> int:
    return log.count("rescuer: 1 job(s) whose worker stopped heartbeating taken back")


def _stale_running_job() -> Job:
    # its message is recorded, not sent: the live worker must not claim it before the test does
    with jobs_recorded():
        job = job_in_status("running", type="test.noop")
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    return job


def test_the_rescuer_and_sweeper_log_at_info_only_when_they_did_something(processes: ProcessGroup,
                                                                          tmp_path: Path) -> None:
    env = fast_liveness(tmp_path)
    worker = processes.worker(env=env)
    beat = start_beat(processes, env)
    _stale_running_job()
    wait_for(lambda: _rescuer_lines(worker.log()) == 1, timeout=60, message="the first rescue")
    sent = beat.log().count("Sending due task jobs:rescue-stale ")
    wait_for(lambda: beat.log().count("Sending due task jobs:rescue-stale ") >= sent + 3, timeout=60,
             message="three more ticks of the rescuer")
    # the queue is taken in order: once this one is rescued, the idle ticks before it were run or dropped
    _stale_running_job()
    wait_for(lambda: _rescuer_lines(worker.log()) == 2, timeout=60, message="the second rescue")
    log = worker.log()
    for task in ("jobs.rescue_stale_jobs", "jobs.sweep_unclaimed_jobs"):
        assert f"Task {task}[" not in log and f"Discarding revoked task: {task}[" not in log, log[-3000:]
    assert beat.log().count("Sending due task jobs:sweep-unclaimed ") >= 3
