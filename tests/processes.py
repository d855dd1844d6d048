"""Real processes for behaviour tests: Celery workers and beat against the test database.

Every process is started in its own session so that a test can kill it with its children
(SIGKILL of a whole worker), and is stopped by PID at teardown even when the test failed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[1]


def wait_for(predicate: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.1,
             message: str = "") -> object:
    """Poll until predicate() is truthy; fail the test with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


def test_database_url() -> str:
    """A DATABASE_URL for the database the test process is using right now."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    host = s.get("HOST") or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"


def child_environment(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["DATABASE_URL"] = test_database_url()
    env["PYTHONPATH"] = str(BASE_DIR)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


class Process:
    """A child process in its own session, logging to a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self, ready_text: str | None = None, timeout: float = 60.0) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.args, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        if ready_text:
            wait_for(lambda: self._ready(ready_text), timeout=timeout, message=f"{self.name} to print {ready_text!r}")
        return self

    def _ready(self, text: str) -> bool:
        if self.popen is not None and self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-3000:]}")
        return text in self.log()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout)

    def kill_group(self) -> None:
        """SIGKILL the process and everything in its session (a prefork worker's children)."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL of the whole group if it does not exit in time."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                pass
        self.kill_group()


class ProcessGroup:
    """The processes one test started; all stopped at teardown."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[Process] = []

    def worker(
        self, *, queues: str = "default,system", concurrency: int = 2, pool: str = "prefork",
        env: dict[str, str] | None = None, ready: bool = True,
    ) -> Process:
        name = f"worker-{uuid.uuid4().hex[:6]}"
        args = [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "INFO", "-n", f"{name}@%h",
                "-Q", queues, "-c", str(concurrency), "-P", pool, "--without-gossip", "--without-mingle"]
        process = Process(name, args, child_environment(**(env or {})), self.log_dir)
        self.processes.append(process)
        return process.start(ready_text=" ready." if ready else None)

    def beat(self, *, env: dict[str, str] | None = None) -> Process:
        name = f"beat-{uuid.uuid4().hex[:6]}"
        args = [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "INFO", "--max-interval", "1",
                "-S", "scheduler.beat_scheduler:BeatScheduler"]
        process = Process(name, args, child_environment(**(env or {})), self.log_dir)
        self.processes.append(process)
        return process.start(ready_text="beat: Starting")

    def stop_all(self) -> None:
        for process in self.processes:
            process.kill_group()

    def logs(self) -> str:
        return "\n".join(f"===== {p.name}\n{p.log()[-4000:]}" for p in self.processes)
