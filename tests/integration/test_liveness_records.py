"""Liveness records in the real Redis (`telemetry.liveness`) and `manage.py liveness`, on
records and files written here; the acceptance tests have real workers and beat write them."""
from __future__ import annotations

import os
import time
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from config.embedded_redis import free_port
from telemetry import liveness
from tests.processes import wait_for


def a_record(name: str, queues: tuple[str, ...] = ("default",), **values: object) -> liveness.WorkerRecord:
    fields: dict = {"hostname": "host-1", "pid": 4321, "concurrency": 2, "busy": 1, "seen_at": time.time()}
    fields.update(values)
    return liveness.WorkerRecord(name=name, queues=queues, **fields)


def names(records: list[liveness.WorkerRecord]) -> set[str]:
    return {record.name for record in records}


def test_a_record_is_live_until_it_expires_or_is_forgotten() -> None:
    first, second = f"a-{uuid.uuid4().hex[:6]}@host-1", f"b-{uuid.uuid4().hex[:6]}@host-2"
    with override_settings(JOBS_LIVENESS_MAX_AGE=600):
        liveness.record_worker(a_record(first, ("default", "system")))
    with override_settings(JOBS_LIVENESS_MAX_AGE=0.5):
        liveness.record_worker(a_record(second, ("attachments",)))
    live = {record.name: record for record in liveness.live_workers() if record.name in {first, second}}
    assert live[first] == a_record(first, ("default", "system"), seen_at=live[first].seen_at)
    assert second in live
    wait_for(lambda: second not in names(liveness.live_workers()), timeout=30,
             message="the record written with a half-second lifetime to expire")
    assert first in names(liveness.live_workers())
    liveness.forget_worker(first)
    assert first not in names(liveness.live_workers())


def test_live_workers_can_ask_for_a_fresher_record_than_the_lifetime() -> None:
    name = f"old-{uuid.uuid4().hex[:6]}@host"
    liveness.record_worker(a_record(name, seen_at=time.time() - 120))
    assert name in names(liveness.live_workers())
    assert name not in names(liveness.live_workers(max_age=60))
    liveness.forget_worker(name)


def test_beats_last_tick_is_kept() -> None:
    liveness.record_beat_tick(now=1_700_000_000.0)
    assert liveness.last_beat_tick() == 1_700_000_000.0
    record = liveness.last_beat()
    assert record is not None and record.pid == os.getpid()
    liveness.record_beat_tick()
    tick = liveness.last_beat_tick()
    assert tick is not None and abs(tick - time.time()) < 60


def run(*args: str) -> str:
    out = StringIO()
    call_command("liveness", *args, stdout=out)
    return out.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        call_command("liveness", *args, stdout=StringIO())
    return caught.value


def test_the_command_finds_the_consumers_of_queues_in_redis() -> None:
    queue = f"q-{uuid.uuid4().hex[:6]}"
    name = f"w-{uuid.uuid4().hex[:6]}@host-1"
    liveness.record_worker(a_record(name, (queue, "default")))
    try:
        assert f"{name}  queues {queue},default  busy 1/2  pid 4321" in run("queues", queue, "default")
        error = refused("queues", queue, "nowhere")
        assert error.returncode == 1 and str(error) == "no live worker consumes nowhere."
        assert refused("queues", "").returncode == 2
    finally:
        liveness.forget_worker(name)
    assert refused("queues", queue).returncode == 1


def test_the_command_says_so_when_redis_cannot_be_read() -> None:
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0"):
        error = refused("queues")
    assert error.returncode == 1 and str(error).startswith("Redis could not be read (")


def test_the_worker_check_reads_only_the_file(tmp_path: Path) -> None:
    with override_settings(JOBS_LIVENESS_DIR=str(tmp_path), JOBS_LIVENESS_MAX_AGE=30,
                           CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0"):  # no Redis needed
        missing = refused("worker", "--name", "default@%h")
        assert missing.returncode == 1 and "has no liveness file at" in str(missing)
        path = liveness.worker_file(f"default@{os.uname().nodename}")
        liveness.touch(path)
        assert "is live" in run("worker", "--name", "default@%h")
        old = time.time() - 45
        os.utime(path, (old, old))
        stale = refused("worker", "--name", "default@%h")
        assert stale.returncode == 1 and "last touched 4" in str(stale) and "(the limit is 30s)" in str(stale)
        assert "is live" in run("worker", "--name", "default@%h", "--max-age", "60")
        assert refused("worker", "--name", "default@%h", "--max-age", "0").returncode == 2


def test_the_beat_check_reads_the_file_or_redis(tmp_path: Path) -> None:
    with override_settings(JOBS_LIVENESS_DIR=str(tmp_path), JOBS_LIVENESS_MAX_AGE=30):
        assert refused("beat").returncode == 1
        liveness.touch(liveness.beat_file())
        assert run("beat").startswith("beat is live")
        liveness.record_beat_tick(now=time.time() - 300)
        stale = refused("beat", "--redis")
        assert stale.returncode == 1 and "ago (the limit is 30s)" in str(stale)
        liveness.record_beat_tick()
        assert run("beat", "--redis").startswith("beat is live: it ticked")
