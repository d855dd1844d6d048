"""The local side of liveness (`telemetry.liveness`): the files a probe reads, systemd's
watchdog notification, and the record's JSON. No database, no broker."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from django.test import override_settings

from telemetry import liveness


def test_touch_creates_the_file_with_its_folder_then_only_moves_its_mtime(tmp_path: Path) -> None:
    path = tmp_path / "liveness" / "worker-a@host"
    assert liveness.file_age(path) is None
    liveness.touch(path, '{"pid": 1}')
    assert path.read_text() == '{"pid": 1}'
    old = time.time() - 100
    os.utime(path, (old, old))
    age = liveness.file_age(path)
    assert age is not None and age >= 99
    liveness.touch(path, "not written again")
    assert path.read_text() == '{"pid": 1}'
    age = liveness.file_age(path)
    assert age is not None and age < 99
    assert [p.name for p in path.parent.iterdir()] == ["worker-a@host"]  # no temporary file left behind


def test_the_files_are_named_after_the_process_in_the_configured_folder(tmp_path: Path) -> None:
    with override_settings(JOBS_LIVENESS_DIR=str(tmp_path)):
        assert liveness.worker_file("default@web-1.example") == tmp_path / "worker-default@web-1.example"
        assert liveness.worker_file("../../etc/x@h") == tmp_path / "worker-.._.._etc_x@h"  # stays in the folder
        assert liveness.beat_file() == tmp_path / "beat"
    with override_settings(JOBS_LIVENESS_DIR=""):
        assert liveness.beat_file().parent.name == "liveness"  # under CONVEYOR_VAR_DIR


def test_a_worker_record_survives_its_json() -> None:
    record = liveness.WorkerRecord(name="w@h", hostname="h", pid=12, queues=("default", "system"), concurrency=4,
                                   busy=1, seen_at=1700000000.5)
    assert liveness.WorkerRecord.from_json(record.to_json()) == record
    assert record.idle == 3
    assert liveness.consumers_per_queue([record, record]) == {"default": 2, "system": 2}


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A datagram socket standing where systemd's would, named in NOTIFY_SOCKET."""
    address = str(tmp_path / "notify")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    server.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    try:
        yield server
    finally:
        server.close()


def test_the_watchdog_is_notified_under_a_unit_that_has_one(notify_socket: socket.socket,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert liveness.notify_watchdog() is True
    assert notify_socket.recv(100) == b"WATCHDOG=1"
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert liveness.notify_watchdog() is True
    assert notify_socket.recv(100) == b"WATCHDOG=1"


def test_the_watchdog_is_left_alone_elsewhere(notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # the unit watches another process
    assert liveness.notify_watchdog() is False
    monkeypatch.delenv("WATCHDOG_PID")
    monkeypatch.delenv("WATCHDOG_USEC")  # no watchdog on this unit
    assert liveness.notify_watchdog() is False
    monkeypatch.delenv("NOTIFY_SOCKET")  # not under systemd
    assert liveness.notify_watchdog() is False
    notify_socket.settimeout(0.2)
    with pytest.raises(TimeoutError):
        notify_socket.recv(100)
