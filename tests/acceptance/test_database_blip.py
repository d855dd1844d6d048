"""The database goes away and comes back: workers live on, jobs complete, logs stay short.

The real-process tests run on a PostgreSQL server of the test's own (initdb into a temporary
folder), so the shared server is never stopped. The worker and the job creation talk to that
server; the test reads it with psycopg. The unit tests below them need no worker and no
PostgreSQL: they make the database "unreachable" by raising OperationalError where it is used.
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from celery import states
from django.db import OperationalError

from config.embedded_redis import free_port
from tests.own_postgres import OwnPostgres, server_bin_dir
from tests.processes import BASE_DIR, ProcessGroup, child_environment, wait_for

BIN = server_bin_dir()


@pytest.fixture
def own_postgres():
    if BIN is None:
        pytest.skip("stopping PostgreSQL mid-job needs a server of the test's own, and no initdb/pg_ctl was found "
                    "(on PATH or under /usr/lib/postgresql/*/bin)")
    # not under pytest's temporary root: pytest keeps that private (0700) to its own user,
    # and the server may run as another user
    root = Path(tempfile.mkdtemp(prefix="conveyor-own-pg-"))
    server = OwnPostgres(BIN, root, free_port())
    try:
        yield server.init().start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def attempt_rows(url: str, ids: list[str]) -> dict[str, tuple[int, int, list[tuple[int, str]]]]:
    """Per job: (Job.attempts, Job.rescues, its JobAttempt rows as (number, outcome))."""
    with psycopg.connect(url, connect_timeout=2) as conn:
        jobs = conn.execute("SELECT id::text, attempts, rescues FROM jobs_job WHERE id = ANY(%s::uuid[])",
                            (ids,)).fetchall()
        attempts = conn.execute("SELECT job_id::text, number, outcome FROM jobs_jobattempt "
                                "WHERE job_id = ANY(%s::uuid[]) ORDER BY job_id, number", (ids,)).fetchall()
    return {job_id: (count, rescues, [(number, outcome) for owner, number, outcome in attempts if owner == job_id])
            for job_id, count, rescues in jobs}


def job_row(url: str, job_id: str) -> tuple | None:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute("SELECT status, attempts, progress FROM jobs_job WHERE id = %s", (job_id,)).fetchone()
    except psycopg.OperationalError:
        return None


@pytest.mark.workers
@pytest.mark.slow
def test_a_database_outage_during_a_job_loses_nothing(own_postgres, tmp_path, broker):
    """A blip shorter than the heartbeat timeout (the suite's 3 s would be shorter than the
    outage with the server's stop and start): the rescuer runs throughout and must not take
    the job, whose handler runs through the outage and completes on its one attempt."""
    url = own_postgres.url()
    env = child_environment(DATABASE_URL=url)
    manage(env, "migrate", "--noinput", "-v", "0")
    group = ProcessGroup(tmp_path / "logs")
    blip = {"DATABASE_URL": url, "JOBS_HEARTBEAT_TIMEOUT": "30"}
    try:
        worker = group.worker(env=blip)
        group.beat(env=blip)
        job_id = manage(env, "shell", "-c", (
            "from jobs.services import job_create;"
            "print(job_create(type='demo.sleep', input={'seconds': 6, 'steps': 30}).job.pk)"
        )).strip().splitlines()[-1]
        wait_for(lambda: (row := job_row(url, job_id)) and row[0] == "running" and row[2] > 0,
                 message="the job to be running")
        own_postgres.stop()
        time.sleep(3)
        own_postgres.start()
        own_postgres.wait_ready()
        wait_for(lambda: (row := job_row(url, job_id)) and row[0] == "completed", timeout=120,
                 message="the job to complete after the outage")
        assert f"job {job_id} waits for the database" in worker.log()
        # the handler ran through the outage: its one attempt completed, nothing was rescued or rerun
        attempts = attempt_rows(url, [job_id])
        assert attempts == {job_id: (1, 0, [(1, "completed")])}, f"{attempts}\n{worker.log()[-3000:]}"
    except BaseException:
        print(group.logs())
        raise
    finally:
        group.stop_all()


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def job_statuses(url: str, ids: list[str]) -> dict[str, str] | None:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            rows = conn.execute("SELECT id::text, status FROM jobs_job WHERE id = ANY(%s::uuid[])", (ids,)).fetchall()
    except psycopg.OperationalError:
        return None
    return dict(rows)


def waits_per_job(log: str) -> Counter[str]:
    """How many lines of the log say that a job waits for the database, per job."""
    return Counter(match.group(0) for line in log.splitlines()
                   if "waits for the database" in line and (match := UUID.search(line)))


@pytest.mark.workers
@pytest.mark.slow
@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_a_worker_outlives_a_database_outage_and_says_once_per_job_that_it_waits(own_postgres, tmp_path, broker,
                                                                                  pool):
    """PostgreSQL is stopped for 10 s. A solo worker used to exit ("Unrecoverable error"):
    run_job's self.retry wrote RETRY, then FAILURE, through the database result backend.

    Jobs across the outage: with prefork, one handler runs through it (its progress writes
    and its outcome meet the outage); with both pools, jobs whose messages come due during
    the outage (a countdown) are taken by a free pool process and wait to be claimed, and
    the others wait behind them.
    """
    url = own_postgres.url()
    env = child_environment(DATABASE_URL=url)
    manage(env, "migrate", "--noinput", "-v", "0")
    concurrency = 2 if pool == "prefork" else 1
    running_count, delayed_count = concurrency - 1, 3
    group = ProcessGroup(tmp_path / "logs")
    try:
        worker = group.worker(pool=pool, concurrency=concurrency, env={"DATABASE_URL": url})
        ids = manage(env, "shell", "-c", (
            "from jobs.services import job_create\n"
            f"for _ in range({running_count}):\n"
            "    print(job_create(type='demo.sleep', input={'seconds': 8, 'steps': 40}).job.pk)\n"
            f"for _ in range({delayed_count}):\n"
            "    print(job_create(type='demo.sleep', input={'seconds': 1, 'steps': 4}, delay=5).job.pk)\n"
        )).split()[-(running_count + delayed_count):]
        running, delayed = ids[:running_count], ids[running_count:]
        for job_id in running:
            wait_for(lambda job_id=job_id: (row := job_row(url, job_id)) and row[0] == "running" and row[2] > 0,
                     timeout=60, message=f"job {job_id} to be running")
        own_postgres.stop()
        time.sleep(10)
        own_postgres.start()
        own_postgres.wait_ready()
        wait_for(lambda: (statuses := job_statuses(url, ids)) is not None
                 and all(statuses.get(job_id) in ("completed", "failed", "cancelled") for job_id in ids),
                 timeout=180, interval=0.5, message="every job to finish after the outage")
        assert job_statuses(url, ids) == dict.fromkeys(ids, "completed")
        # waiting for the database spends no attempt: neither the handler that ran through the
        # outage nor a claim that waited (or whose message was offered again) counts twice
        attempts = attempt_rows(url, ids)
        assert attempts == {job_id: (1, 0, [(1, "completed")]) for job_id in ids}, attempts
        assert worker.alive(), worker.log()[-3000:]
        log = worker.log()
        assert "Traceback" not in log and "Unrecoverable error" not in log, log[-5000:]
        waits = waits_per_job(log)
        assert set(waits) <= set(ids)
        assert all(count == 1 for count in waits.values()), waits  # one line per job and outage
        # the outage was met where it should have been: by the running handler, and by a claim
        assert all(waits[job_id] == 1 for job_id in running), waits
        assert any(waits[job_id] == 1 for job_id in delayed), waits
        print(f"\n{pool}: 'waits for the database' lines per job {dict(waits)}; attempts {attempts}")
    except BaseException:
        print(group.logs())
        raise
    finally:
        group.stop_all()


@pytest.mark.workers
def test_a_message_offered_again_tells_its_next_delivery_since_when_its_job_waits(processes):
    """The header that _offer_again sets reaches the task's request on a real worker: its
    delivery does not announce the outage again, and says when the job proceeds."""
    from jobs.tasks import run_job
    from jobs.worker import outage

    worker = processes.worker(pool="solo", concurrency=1)
    job_id = str(uuid.uuid4())  # no such job: the delivery claims nothing once the database answers
    run_job.apply_async(args=[job_id, str(uuid.uuid4())], kwargs={"job_type": "demo.sleep"}, queue="default",
                        headers={outage.WAIT_HEADER: time.time() - 42})
    # this job's own line: a message an earlier test left in the queue may be delivered first
    delivered = re.compile(rf"job {job_id}: message with token \S+ claims nothing")
    wait_for(lambda: delivered.search(worker.log()), timeout=60, message="the delivery")
    log = worker.log()
    assert re.search(rf"job {job_id}: the database is reachable again after 4\d\.\ds; proceeds", log), log[-3000:]
    assert "waits for the database" not in log


# --- no worker, no PostgreSQL: the pieces, with the database made unreachable --------------


@pytest.fixture
def worker_log() -> Iterator[list[logging.LogRecord]]:
    """The records of the conveyor.worker logger (which does not propagate to the root)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("conveyor.worker")
    handler, level = Keep(level=logging.DEBUG), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def lines(records: list[logging.LogRecord], level: int) -> list[str]:
    return [r.getMessage() for r in records if r.levelno == level]


class FakeClock:
    """time.monotonic that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def no_sleep(monkeypatch):
    from types import SimpleNamespace

    from jobs.worker import delivery, outage

    clock = FakeClock()
    fake = SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep, time=time.time)
    monkeypatch.setattr(outage, "time", fake)
    monkeypatch.setattr(delivery, "time", fake)
    return clock


def unreachable(*args, **kwargs):
    raise OperationalError('connection failed: connection to server at "127.0.0.1", port 1 failed: '
                           "Connection refused\n\tIs the server running on that host?")


@pytest.mark.django_db
def test_the_result_backend_stores_nothing_and_raises_nothing_while_the_database_is_unreachable(
        monkeypatch, worker_log):
    from django.db.models.query import QuerySet
    from django_celery_results.models import TaskResult

    from config.celery import app

    backend = app.backend
    with monkeypatch.context() as patched:
        patched.setattr(QuerySet, "_insert", unreachable)
        backend.store_result("task-a", {"outcome": "waiting"}, states.SUCCESS)
        backend.mark_as_retry("task-b", RuntimeError("x"))
        backend.mark_as_failure("task-c", RuntimeError("x"))
    assert not TaskResult.objects.exists()
    warnings = lines(worker_log, logging.WARNING)
    assert len(warnings) == 1 and "not stored while the database is unreachable" in warnings[0], warnings
    assert "\n" not in warnings[0]
    backend.store_result("task-d", None, states.SUCCESS)  # back: stored, and said once
    assert TaskResult.objects.filter(task_id="task-d").exists()
    assert any("stored again (3 skipped" in line for line in lines(worker_log, logging.INFO))


@pytest.mark.django_db
def test_a_task_failing_in_celerys_tracer_with_the_database_down_does_not_escape_the_pool(monkeypatch):
    """What made a solo worker exit: the tracer's failure handling writes through the backend,
    and the backend's error escaped the tracer (build_tracer as the worker runs it)."""
    from celery.app.trace import build_tracer
    from django.db.models.query import QuerySet

    from jobs.tasks import run_job
    from jobs.worker import run

    def broken(*args, **kwargs):
        raise RuntimeError("a bug after the claim")

    monkeypatch.setattr(run, "execute", broken)
    monkeypatch.setattr(QuerySet, "_insert", unreachable)
    tracer = build_tracer(run_job.name, run_job, eager=False, app=run_job.app)
    task_id = str(uuid.uuid4())
    request = {"id": task_id, "task": run_job.name, "hostname": "w1@test", "delivery_info": {}}
    result = tracer(task_id, [str(uuid.uuid4()), str(uuid.uuid4())], {}, request)
    assert result.info is not None and result.info.state == states.FAILURE


def call_run_job(job_id: str, headers: dict | None = None) -> dict:
    from jobs.tasks import run_job

    run_job.push_request(id=str(uuid.uuid4()), hostname="w1@test", delivery_info={"routing_key": "default"},
                         kwargs={"job_type": "demo.sleep"}, **(headers or {}))
    try:
        return run_job.run(job_id, str(uuid.uuid4()), job_type="demo.sleep")
    finally:
        run_job.pop_request()


def test_a_claim_without_the_database_waits_in_place_with_one_line_then_proceeds(monkeypatch, worker_log, no_sleep):
    from jobs.worker import outage, run

    calls, probes = [], iter([False, False])  # then it answers

    def execute(job_id, token, **kwargs):
        calls.append(job_id)
        if len(calls) < 3:
            unreachable()
        return {"job": job_id, "outcome": "completed"}

    def probe():
        if next(probes, True) is False:
            unreachable()

    monkeypatch.setattr(run, "execute", execute)
    monkeypatch.setattr(outage, "probe", probe)
    job_id = str(uuid.uuid4())
    assert call_run_job(job_id) == {"job": job_id, "outcome": "completed"}
    # two outages as the worker saw them (the database answered once, then failed the claim again)
    warnings = lines(worker_log, logging.WARNING)
    expected = (f"job {job_id} waits for the database to be claimed (OperationalError: connection failed: "
                'connection to server at "127.0.0.1", port 1 failed: Connection refused)')
    assert warnings == [expected, expected]
    assert len([line for line in lines(worker_log, logging.INFO) if "reachable again" in line]) == 2
    assert not any(r.exc_info for r in worker_log)
    assert not outage.waiting(job_id)


def test_a_claim_that_waited_its_bound_offers_the_same_message_again_without_the_result_backend(
        monkeypatch, worker_log, no_sleep):
    from jobs import tasks
    from jobs.worker import delivery, outage, run

    sent = []
    monkeypatch.setattr(run, "execute", unreachable)
    monkeypatch.setattr(outage, "probe", unreachable)
    monkeypatch.setattr(delivery, "_CLAIM_WAIT_LIMIT", 3.0)
    monkeypatch.setattr(tasks.run_job, "apply_async", lambda **options: sent.append(options))
    monkeypatch.setattr(tasks.run_job, "retry", lambda *a, **k: pytest.fail("self.retry goes through the backend"))
    job_id = str(uuid.uuid4())
    summary = call_run_job(job_id)
    assert summary["outcome"] == "waiting"
    [options] = sent
    assert options["args"][0] == job_id and options["queue"] == "default"
    assert options["countdown"] == delivery._OFFER_AGAIN_COUNTDOWN
    assert options["kwargs"] == {"job_type": "demo.sleep"}
    since = options["headers"][outage.WAIT_HEADER]
    assert abs(since - time.time()) < 60
    assert len(lines(worker_log, logging.WARNING)) == 1
    assert not outage.waiting(job_id)

    # its next delivery: the same outage, not announced again; the database back, it proceeds
    monkeypatch.setattr(outage, "probe", lambda: None)
    monkeypatch.setattr(run, "execute", lambda job_id, token, **kw: {"job": job_id, "outcome": "completed"})
    worker_log.clear()
    assert call_run_job(job_id, headers={outage.WAIT_HEADER: since})["outcome"] == "completed"
    assert lines(worker_log, logging.WARNING) == []
    assert [line for line in lines(worker_log, logging.INFO) if "reachable again" in line]


def test_an_outcome_waits_for_the_database_and_gives_up_after_its_bound_with_one_error_line(
        monkeypatch, worker_log, no_sleep):
    from jobs.worker import outage, run

    job_id = str(uuid.uuid4())
    failures = iter([True, True, True, False])

    def record():
        if next(failures):
            unreachable()
        return True

    monkeypatch.setattr(outage, "probe", lambda: None)
    assert outage.record_when_reachable(record, job_id, limit=60) is True
    assert len(lines(worker_log, logging.WARNING)) == 3  # each probe answered: three short outages
    worker_log.clear()

    monkeypatch.setattr(outage, "probe", unreachable)
    with pytest.raises(outage.OutcomeNotRecorded):
        outage.record_when_reachable(unreachable, job_id, limit=3)
    assert len(lines(worker_log, logging.WARNING)) == 1

    # run_job turns it into one error line, no traceback, no retry
    def execute(job_id, token, **kwargs):
        return run._with_database_retries(unreachable, type("J", (), {"pk": job_id})())

    monkeypatch.setattr(run, "execute", execute)
    monkeypatch.setattr(run, "_RECORD_WAIT_LIMIT", 3.0)
    worker_log.clear()
    other = str(uuid.uuid4())
    assert call_run_job(other)["outcome"] == "unrecorded"
    assert len(lines(worker_log, logging.WARNING)) == 1 and len(lines(worker_log, logging.ERROR)) == 1
    assert not any(r.exc_info for r in worker_log)


def test_progress_writes_during_an_outage_say_so_once(monkeypatch, worker_log):
    from jobs import services
    from jobs.worker.link import JobRowLink

    job = type("J", (), {"pk": uuid.uuid4(), "token": uuid.uuid4()})()
    link = JobRowLink(job)
    monkeypatch.setattr(services, "job_heartbeat", unreachable)
    monkeypatch.setattr(services, "job_cancel_requested", unreachable)
    for percent in range(0, 100, 5):
        assert link.write_progress(percent, "step") is False
        assert link.cancel_requested() is False
    assert len(lines(worker_log, logging.WARNING)) == 1
    monkeypatch.setattr(services, "job_heartbeat", lambda **kw: services.Liveness(owned=True, cancel_requested=False))
    assert link.write_progress(100, "done") is False
    assert len([line for line in lines(worker_log, logging.INFO) if "reachable again" in line]) == 1
