"""`make run` from a fresh copy of the project, end to end, on the embedded defaults.

1. Copy the project's files (tracked and untracked-not-ignored: what a clone would hold, plus
   work not yet committed) into an empty folder; reuse this interpreter's virtualenv.
2. `make run` there with no DATABASE_URL, REDIS_URL or DJANGO_/CELERY_/JOBS_ settings, on free
   ports, in a session of its own.
3. Web answers /admin/login/ and takes the printed admin password; Flower answers with the
   printed basic auth and refuses (401) without it.
4. `manage.py enqueue_job demo.sleep --wait --json` ends completed: a real worker ran it.
5. SIGINT to the launcher stops every process it started (web, worker and its pool, beat,
   Flower, the embedded redis-server), Flower saving its history under var/flower/; whatever
   happens, the test kills them all at the end.
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from config.embedded_redis import free_port
from tests.processes import wait_for

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# Outside settings that would make the copy use something other than its embedded defaults.
STRIPPED_NAMES = {"DATABASE_URL", "REDIS_URL", "PYTHONPATH", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS",
                  "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV"}
STRIPPED_PREFIXES = ("DJANGO_", "CELERY_", "JOBS_", "CONVEYOR_", "FLOWER_", "WEB_", "WORKER_", "ADMIN_")
# A unix socket path must fit in 108 bytes; the embedded Redis's lives under the copy.
SOCKET_SUFFIX = "var/redis/redis.sock"


def this_venv() -> Path:
    return Path(sys.prefix) if sys.prefix != sys.base_prefix else REPO / ".venv"


@pytest.fixture
def project_copy(tmp_path: Path) -> Iterator[Path]:
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("copies the project with `git ls-files` and starts it with `make run`: "
                    "git and make must be on PATH")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    base = tmp_path
    if len(str(tmp_path / "app" / SOCKET_SUFFIX)) > 100:
        base = Path(tempfile.mkdtemp(prefix="cv-"))
    app = base / "app"
    for relative in filter(None, listed):
        source = REPO / relative
        if source.is_file():  # a tracked file deleted in the working tree is listed too
            target = app / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    yield app
    if base != tmp_path:
        shutil.rmtree(base, ignore_errors=True)


def launcher_environment(web_port: int, flower_port: int) -> dict[str, str]:
    env = {
        name: value for name, value in os.environ.items()
        if name not in STRIPPED_NAMES and not name.startswith(STRIPPED_PREFIXES)
    }
    env.update(WEB_PORT=str(web_port), FLOWER_PORT=str(flower_port), PYTHONUNBUFFERED="1")
    return env


def command_line(process: psutil.Process) -> list[str]:
    """The process's command line, or [] once it has exited."""
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def http_status(url: str, auth: str | None = None, bearer: str | None = None) -> int | None:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(auth.encode()).decode())
    if bearer:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def admin_login(base: str, username: str, password: str) -> str:
    """Log in through the admin's form; returns the page it lands on."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{base}/admin/login/", timeout=10) as response:
        form = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token, "no CSRF token in the admin login form"
    data = urllib.parse.urlencode({
        "csrfmiddlewaretoken": token.group(1), "username": username, "password": password, "next": "/admin/",
    }).encode()
    with opener.open(f"{base}/admin/login/?next=/admin/", data=data, timeout=10) as response:
        return response.read().decode()


def test_make_run_starts_everything_runs_a_job_and_stops_cleanly(project_copy: Path) -> None:
    app, venv = project_copy, this_venv()
    web_port, flower_port = free_port(), free_port()
    env = launcher_environment(web_port, flower_port)
    log_path = app.parent / "make-run.log"
    seen: dict[int, psutil.Process] = {}

    with log_path.open("wb") as log:
        make = subprocess.Popen(
            ["make", "run", f"VENV={venv}"], cwd=app, env=env, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output() -> str:
        return log_path.read_text(errors="replace")

    def remember() -> None:
        """Note every process below make while they live, to check later that all are gone."""
        try:
            for process in [psutil.Process(make.pid), *psutil.Process(make.pid).children(recursive=True)]:
                seen.setdefault(process.pid, process)
        except psutil.NoSuchProcess:
            pass

    def up(predicate_result: object) -> object:
        remember()
        if make.poll() is not None:
            raise AssertionError(f"make run exited with {make.returncode}:\n{output()[-5000:]}")
        return predicate_result

    try:
        web = f"http://127.0.0.1:{web_port}"
        flower = f"http://127.0.0.1:{flower_port}"
        wait_for(lambda: up(http_status(f"{web}/admin/login/") == 200), timeout=180, interval=0.5,
                 message="web to answer /admin/login/")
        wait_for(lambda: up(http_status(flower) == 401), timeout=60, interval=0.5, message="Flower to answer")
        wait_for(lambda: up("Conveyor is running" in output()), timeout=60, interval=0.5, message="the banner")

        # 3. the login details the launcher printed work
        text = output()
        admin = re.search(r"Admin\s+(\S+)/admin/\n\s+username (\S+), password (\S+)\n", text)
        flower_creds = re.search(r"Flower\s+(\S+)/\n\s+username (\S+), password (\S+) \(kept in (\S+)\)", text)
        assert admin and flower_creds, f"login details missing from the output:\n{text[-5000:]}"
        assert admin.group(1) == web and flower_creds.group(1) == flower
        assert "Log out" in admin_login(web, admin.group(2), admin.group(3))
        flower_auth = f"{flower_creds.group(2)}:{flower_creds.group(3)}"
        assert http_status(flower, auth=flower_auth) == 200
        assert http_status(flower, auth=flower_creds.group(2) + ":wrong") == 401
        kept = Path(flower_creds.group(4))
        assert kept.is_relative_to(app / "var") and kept.stat().st_mode & 0o777 == 0o600

        # 4. a job goes through the real worker
        result = subprocess.run(
            [str(venv / "bin" / "python"), "manage.py", "enqueue_job", "demo.sleep",
             "--input", '{"seconds": 1, "steps": 2}', "--wait", "--json"],
            cwd=app, env=env, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, f"enqueue_job failed:\n{result.stdout}\n{result.stderr}"
        job = json.loads(result.stdout)
        assert job["id"] and job["status"] == "completed", job

        # /metrics with the token the launcher kept (and printed the place of); health for probes
        token_file = re.search(r"Metrics\s+(\S+)/metrics\n.*the token is in (\S+)\)", text)
        assert token_file, f"the metrics token's place is missing from the output:\n{text[-5000:]}"
        token = Path(token_file.group(2))
        assert token.is_relative_to(app / "var") and token.stat().st_mode & 0o777 == 0o600
        assert http_status(f"{web}/metrics", bearer=token.read_text().strip()) == 200
        assert http_status(f"{web}/metrics") == 401
        assert http_status(f"{web}/healthz") == 200 and http_status(f"{web}/readyz") == 200

        # 5. everything the launcher started is running now, and stops on SIGINT
        remember()
        commands = [" ".join(command_line(p)) for p in seen.values()]
        for expected in ("config.launcher", "redis-server", "runserver", "worker", "beat", "flower"):
            assert any(expected in command for command in commands), f"no {expected} among {commands}"
        launcher = next(p for p in seen.values()
                        if command_line(p)[1:3] == ["-m", "config.launcher"])
        launcher.send_signal(signal.SIGINT)
        assert make.wait(timeout=90) == 0, output()[-5000:]
        _, alive = psutil.wait_procs(list(seen.values()), timeout=10)
        assert not alive, f"still running after the launcher exited: {alive}"
        with pytest.raises(ProcessLookupError):
            os.killpg(make.pid, 0)
        assert "embedded Redis stopped" in output()
        assert not (app / SOCKET_SUFFIX).exists(), "the embedded Redis did not shut down cleanly"
        assert list((app / "var" / "flower").glob("flower-state*")), "Flower kept no history under var/flower/"
    finally:
        remember()
        try:
            os.killpg(make.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for process in seen.values():  # the children live in sessions of their own
            try:
                process.kill()  # psutil checks the process is still the one we saw
            except psutil.Error:
                pass
        make.wait(timeout=10)
        print(output()[-8000:])
