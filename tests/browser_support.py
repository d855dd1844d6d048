"""What the browser tests share: Debian's Chromium driven by Playwright, and the launcher that
`make run` runs, started with a var/ folder of the test's own.

1. `python -m config.launcher` (what `make run` runs): on the embedded defaults its own SQLite
   and Redis; on PostgreSQL the suite's database and Redis. Web, a worker, beat and Flower; the
   login details come from its banner.
2. At the end SIGINT stops the launcher; whatever happens, every process it started is killed,
   each by its PID.
Chromium is never downloaded: without Debian's package the tests skip, naming it.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from config.embedded_redis import free_port
from tests import processes as test_processes
from tests.processes import BASE_DIR, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# the launcher's own settings, which it derives or generates
STRIPPED_PREFIXES = ("FLOWER_", "ADMIN_", "WEB_", "WORKER_")


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium); Playwright never "
                    "downloads a browser here")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Launcher:
    """The launcher in a session of its own; every process below it is remembered while it
    runs, so that all of them can be killed at the end."""

    def __init__(self, var_dir: Path, on_postgresql: bool) -> None:
        self.web_port, self.flower_port = free_port(), free_port()
        self.web = f"http://127.0.0.1:{self.web_port}"
        self.flower = f"http://127.0.0.1:{self.flower_port}"
        env = {name: value for name, value in os.environ.items() if not name.startswith(STRIPPED_PREFIXES)}
        env.pop("PYTHONPATH", None)
        env.update(DJANGO_SETTINGS_MODULE="config.settings", CONVEYOR_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1",
                   WEB_PORT=str(self.web_port), FLOWER_PORT=str(self.flower_port))
        if on_postgresql:
            env["DATABASE_URL"] = test_processes.test_database_url()  # and the suite's REDIS_URL
        else:  # make run's defaults: SQLite and an embedded Redis under var/
            env.pop("DATABASE_URL", None)
            env.pop("REDIS_URL", None)
        self.env = env
        self.log_path = var_dir.parent / "launcher.log"
        self.seen: dict[int, psutil.Process] = {}
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Launcher:
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen([sys.executable, "-m", "config.launcher"], cwd=BASE_DIR, env=self.env,
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        wait_for(lambda: self.up("Conveyor is running" in self.output()), timeout=240, interval=0.5,
                 message="the launcher's banner")
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def remember(self) -> None:
        assert self.popen is not None
        try:
            root = psutil.Process(self.popen.pid)
            for process in [root, *root.children(recursive=True)]:
                self.seen.setdefault(process.pid, process)
        except psutil.NoSuchProcess:
            pass

    def up(self, value: object) -> object:
        assert self.popen is not None
        self.remember()
        if self.popen.poll() is not None:
            raise AssertionError(f"the launcher exited with {self.popen.returncode}:\n{self.output()[-5000:]}")
        return value

    def logins(self) -> tuple[tuple[str, str], tuple[str, str]]:
        """(admin user, password), (Flower user, password), as the banner shows them."""
        text = self.output()
        admin = re.search(r"Admin\s+\S+/admin/\n\s+username (\S+), password (\S+)\n", text)
        flower = re.search(r"Flower\s+\S+/\n\s+username (\S+), password (\S+) \(kept in", text)
        assert admin and flower, f"login details missing from the banner:\n{text[-5000:]}"
        return (admin.group(1), admin.group(2)), (flower.group(1), flower.group(2))

    def enqueue(self, job_type: str, job_input: dict[str, Any], *, wait: bool = True,
                expect: str = "completed") -> str:
        """A job through `manage.py enqueue_job`: its id, once it ended `expect` (with `wait`)."""
        done = subprocess.run([sys.executable, "manage.py", "enqueue_job", job_type, "--input", json.dumps(job_input),
                               *(["--wait"] if wait else []), "--json"], cwd=BASE_DIR, env=self.env,
                              capture_output=True, text=True, timeout=120)
        # with --wait, a job that did not complete exits 1 (after printing it)
        expected_code = 1 if wait and expect != "completed" else 0
        assert done.returncode == expected_code, f"enqueue_job: {done.returncode}\n{done.stdout}\n{done.stderr}"
        job = json.loads(done.stdout)
        if wait:
            assert job["status"] == expect, job
        return str(job["id"])

    def manage(self, *args: str) -> str:
        """`manage.py ARGS` against the launcher's database: its output (exit 0 asserted)."""
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def stop(self) -> None:
        """SIGINT, as Ctrl-C; then SIGKILL to whatever is left, each process by its PID."""
        if self.popen is None:
            return
        self.remember()
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(90)
            except subprocess.TimeoutExpired:
                pass
        for process in self.seen.values():  # the children live in sessions of their own
            try:
                process.kill()  # psutil checks that it is still the process seen
            except psutil.Error:
                pass
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)


@pytest.fixture
def launcher(transactional_db: None, tmp_path: Path) -> Iterator[Launcher]:
    """The launcher, not started yet (`launcher.start()`), stopped at the end."""
    on_postgresql = not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    if on_postgresql:
        # the launcher creates (and prints) a superuser only where there is none
        get_user_model().objects.filter(is_superuser=True).delete()
    # the embedded Redis's unix socket path (var/redis/redis.sock) must fit in 108 bytes
    base = Path(tempfile.mkdtemp(prefix="cv-browser-")) if len(str(tmp_path)) > 70 else tmp_path
    running = Launcher(base / "var", on_postgresql)
    try:
        yield running
    finally:
        running.stop()
        print(running.output()[-6000:])
