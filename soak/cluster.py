"""Everything the soak runs: its own PostgreSQL and Redis, beat, the workers, and a supervisor
thread that replaces workers that exit on their own (as systemd would) and notes when each
worker process died (the report ends a killed handler's run there).

Nothing here is shared with anyone: the servers listen on free loopback ports, every file is
under the soak's temporary folder, and every process is stopped by its PID or process group.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import redis

from config.embedded_redis import EmbeddedRedis, free_port
from soak.journal import Journal
from soak.procs import Child
from soak.spec import DIR_ENV
from tests.own_postgres import OwnPostgres, server_bin_dir

BASE_DIR = Path(__file__).resolve().parent.parent
HANDLER_MODULES = "handlers.demo,handlers.dossiers,handlers.maintenance,soak.handlers"
QUEUES = "default,system"
# Inherited variables that would change what is measured: the soak runs the documented
# defaults unless one of its own options says otherwise.
STRIPPED_PREFIXES = ("DJANGO_", "CELERY_", "JOBS_", "CONVEYOR_", "BENCH_")
STRIPPED = {"DATABASE_URL", "REDIS_URL", "PYTHONPATH", "DEBUG", "LOG_LEVEL", "STORAGE_TEMP_DIR"}
# --fast-recovery, for quick local runs only (the reported run keeps the defaults)
FAST_RECOVERY = {"JOBS_HEARTBEAT_INTERVAL": "1", "JOBS_HEARTBEAT_TIMEOUT": "6", "JOBS_RESCUE_INTERVAL": "2",
                 "JOBS_SWEEP_INTERVAL": "2", "JOBS_SWEEP_UNCLAIMED_AFTER": "10"}
SUPERVISE_EVERY = 0.2
# Processes that exit by themselves are replaced, up to this many in the whole soak (a crash
# loop must not fill the machine), each a little later the more of them there were.
MAX_RESTARTS = 30


class SetupError(RuntimeError):
    """The soak could not build its cluster (no PostgreSQL, a failed migration...)."""


class Cluster:
    def __init__(self, workdir: Path, journal: Journal, *, prefork: int, concurrency: int, solo: int,
                 extra_env: dict[str, str], shutdown_wait: float) -> None:
        self.workdir = workdir
        self.journal = journal
        self.shape = {"prefork": prefork, "solo": solo}
        self.concurrency = concurrency
        self.extra_env = extra_env
        self.shutdown_wait = shutdown_wait
        self.log_dir = workdir / "logs"
        self.postgres: OwnPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.env: dict[str, str] = {}
        self.workers: list[Child] = []  # serving; a fault takes one out before it strikes
        self.stopping: dict[Child, float] = {}  # SIGTERM sent: deadline for the warm shutdown
        self.faulted: list[Child] = []  # taken out by a fault that has not struck yet
        self.beat: Child | None = None
        self.started: list[Child] = []  # every process ever started, for the final clean-up
        self.deaths: dict[int, float] = {}  # pid -> first time it was seen gone
        self.pgid_of: dict[int, int] = {}
        self._alive: set[int] = set()
        self._serial = 0
        self._lock = threading.RLock()
        self._closing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._restarts = 0
        self._restart_due: list[tuple[float, Child]] = []  # (when, the process that exited)

    # --- servers ---------------------------------------------------------------------------

    def start_servers(self) -> None:
        bin_dir = server_bin_dir()
        if bin_dir is None:
            raise SetupError("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under "
                             "/usr/lib/postgresql/*/bin")
        # the server may run as the postgres user: it must be able to reach its folder
        self.workdir.chmod(0o755)
        self.postgres = OwnPostgres(bin_dir, self.workdir / "postgres", free_port())
        self.postgres.init().start()
        self.postgres.wait_ready()
        self.redis = EmbeddedRedis(port=free_port(), workdir=self.workdir / "redis").start()
        self.env = self._environment()
        self.journal.say(f"PostgreSQL {self.postgres.url()} (data in {self.postgres.data}), Redis {self.redis.url}")

    def _environment(self) -> dict[str, str]:
        assert self.postgres is not None and self.redis is not None
        env = {name: value for name, value in os.environ.items()
               if name not in STRIPPED and not name.startswith(STRIPPED_PREFIXES)}
        env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.postgres.url(),
            "REDIS_URL": self.redis.url,
            "JOBS_HANDLER_MODULES": HANDLER_MODULES,
            "PYTHONPATH": str(BASE_DIR),
            "PYTHONUNBUFFERED": "1",
            "DEBUG": "0",  # no query log growing in long-lived workers
            # nothing under the checkout: var/ and the storage folder go to the soak's folder
            "CONVEYOR_VAR_DIR": str(self.workdir / "var"),
            "STORAGE_TEMP_DIR": str(self.workdir / "var" / "tmp"),
            DIR_ENV: str(self.workdir),
        })
        env.update(self.extra_env)
        return env

    def migrate(self) -> None:
        done = subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), "migrate", "--noinput", "-v", "0"],
                              cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise SetupError(f"migrate exited with {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")

    def messages_in_redis(self) -> dict[str, int]:
        """Messages Redis holds now: waiting in the queues, and delivered but not acked."""
        assert self.redis is not None
        client = redis.Redis.from_url(self.redis.url, socket_timeout=2)
        try:
            queued = 0
            for queue in QUEUES.split(","):
                # kombu keeps one list per priority step: "default", "default:1" ... "default:9"
                for key in [queue, *(f"{queue}:{step}" for step in range(1, 10))]:
                    queued += int(client.llen(key))
            return {"queued": queued, "unacked": int(client.hlen("unacked"))}
        except redis.RedisError:
            return {}
        finally:
            client.close()

    def restart_redis(self, down: float) -> tuple[float, float, dict[str, int]]:
        """Stop Redis (every message in it is gone) and start a new one on the same port;
        what it held when stopped."""
        assert self.redis is not None
        held = self.messages_in_redis()
        self.redis.stop()
        stopped = time.time()
        time.sleep(down)
        self.redis.start()
        return stopped, time.time(), held

    def restart_postgres(self, down: float) -> tuple[float, float]:
        """Stop PostgreSQL (fast mode: every connection is cut), wait, start it again."""
        assert self.postgres is not None
        self.postgres.stop()
        stopped = time.time()
        time.sleep(down)
        self.postgres.start()
        self.postgres.wait_ready(timeout=60)
        return stopped, time.time()

    # --- workers and beat ------------------------------------------------------------------

    def _child(self, kind: str, args: list[str]) -> Child:
        self._serial += 1
        ready = "beat: Starting" if kind == "beat" else " ready."
        child = Child(f"{kind}-{self._serial}", kind, args, self.env, self.workdir, self.log_dir, ready).start()
        self.started.append(child)
        return child

    def start_worker(self, kind: str) -> Child:
        pool, processes = ("prefork", self.concurrency) if kind == "prefork" else ("solo", 1)
        with self._lock:
            name = f"{kind}-{self._serial + 1}"
            worker = self._child(kind, [
                sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "INFO", "-n", f"soak-{name}@%h",
                "-Q", QUEUES, "-P", pool, "-c", str(processes), "--without-gossip", "--without-mingle"])
            self.workers.append(worker)
            return worker

    def start_beat(self) -> Child:
        with self._lock:
            self.beat = self._child("beat", [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "INFO",
                                             "-S", "scheduler.beat_scheduler:BeatScheduler"])
            return self.beat

    def start_all(self, timeout: float = 180.0) -> None:
        """Beat and the workers; returns once every worker said it is ready."""
        self.start_beat()
        for kind, count in self.shape.items():
            for _ in range(count):
                self.start_worker(kind)
        deadline = time.monotonic() + timeout
        for child in [self.beat, *self.workers]:
            assert child is not None
            while not child.ready():
                if not child.alive():
                    raise SetupError(f"{child.name} exited with {child.returncode()}:\n{child.log()[-3000:]}")
                if time.monotonic() > deadline:
                    raise SetupError(f"{child.name} was not ready after {timeout:.0f}s:\n{child.log()[-3000:]}")
                time.sleep(0.2)
        self._thread = threading.Thread(target=self._supervise, name="soak-supervisor", daemon=True)
        self._thread.start()

    def take_worker(self, rng: random.Random) -> Child | None:
        """A serving worker, at random, taken out of the serving list (so that the supervisor
        does not mistake what the fault does to it for an exit of its own). A ready one if any:
        a worker still starting has no job to lose."""
        with self._lock:
            alive = sorted((w for w in self.workers if w.alive()), key=lambda w: w.name)
            candidates = [w for w in alive if w.ready()] or alive
            if not candidates:
                return None
            worker = rng.choice(candidates)
            self.workers.remove(worker)
            self.faulted.append(worker)
            return worker

    def kill(self, worker: Child) -> float:
        """SIGKILL the worker's whole process group; the time of the kill, which is when the
        report ends the runs it cut short."""
        with self._lock:
            pids = worker.pids()
            try:
                os.killpg(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            killed = time.time()
            for pid in pids:
                self.pgid_of[pid] = worker.pid
                self.deaths.setdefault(pid, killed)
            self.faulted.remove(worker)
        worker.wait(10)
        return killed

    def terminate(self, worker: Child, grace: float) -> float:
        """SIGTERM to the main process only (warm shutdown); the supervisor watches it exit."""
        with self._lock:
            self.faulted.remove(worker)
            self.stopping[worker] = time.time() + grace
            worker.send(signal.SIGTERM)
            return time.time()

    def replace(self, worker: Child, reason: str) -> None:
        with self._lock:
            if self._closing:
                return
            new = self.start_worker(worker.kind)
        self.journal.add("replacement", f"{new.name} started (pid {new.pid}) for {worker.name}: {reason}",
                         worker=new.name, pgid=new.pid, replaces=worker.name)

    # --- the supervisor --------------------------------------------------------------------

    def _note_pids(self) -> None:
        """Which worker processes are alive now; those gone since the last look died by now."""
        now = time.time()
        alive: set[int] = set()
        for worker in [*self.workers, *self.faulted, *self.stopping]:
            for pid in worker.pids():
                alive.add(pid)
                self.pgid_of[pid] = worker.pid
        for pid in self._alive - alive:
            self.deaths.setdefault(pid, now)
        self._alive = alive

    def _supervise(self) -> None:
        while not self._stop.wait(SUPERVISE_EVERY):
            with self._lock:
                if self._closing:
                    return
                self._note_pids()
                for worker in [w for w in self.workers if not w.alive()]:
                    self.workers.remove(worker)
                    self.journal.add("worker_exit", f"{worker.name} (pid {worker.pid}) exited by itself with "
                                     f"{worker.returncode()}; see {worker.log_path}",
                                     worker=worker.name, pgid=worker.pid, code=worker.returncode())
                    self._schedule_restart(worker)
                for worker, deadline in list(self.stopping.items()):
                    if not worker.alive():
                        del self.stopping[worker]
                        self.journal.add("worker_stopped", f"{worker.name} finished its warm shutdown with "
                                         f"{worker.returncode()}", worker=worker.name, pgid=worker.pid,
                                         code=worker.returncode())
                    elif time.time() > deadline:
                        del self.stopping[worker]
                        worker.kill_group()
                        self.journal.add("worker_stop_timeout", f"{worker.name} was still running after its "
                                         "warm shutdown's deadline: killed", worker=worker.name, pgid=worker.pid)
                if self.beat is not None and not self.beat.alive():
                    old, self.beat = self.beat, None
                    self.journal.add("beat_exit", f"beat exited by itself with {old.returncode()}; see {old.log_path}",
                                     code=old.returncode())
                    self._schedule_restart(old)
                for due, old in [item for item in self._restart_due if item[0] <= time.time()]:
                    self._restart_due.remove((due, old))
                    if old.kind == "beat":
                        self.journal.add("replacement", f"beat restarted (pid {self.start_beat().pid})")
                    else:
                        self.replace(old, "it exited")

    def _schedule_restart(self, old: Child) -> None:
        self._restarts += 1
        if self._restarts > MAX_RESTARTS:
            if self._restarts == MAX_RESTARTS + 1:
                self.journal.add("gave_up", f"more than {MAX_RESTARTS} processes exited by themselves: "
                                 "no more replacements")
            return
        self._restart_due.append((time.time() + min(10.0, 0.5 * self._restarts), old))

    # --- the end ---------------------------------------------------------------------------

    def stop_processes(self) -> None:
        """Workers get a warm shutdown (nothing should be running by now), then every group
        the soak started is killed; idempotent."""
        with self._lock:
            self._closing = True
            self._stop.set()
            serving = [w for w in [*self.workers, *self.faulted, *self.stopping] if w.alive()]
            for worker in serving:
                worker.send(signal.SIGTERM)
        deadline = time.monotonic() + self.shutdown_wait
        for worker in serving:
            worker.wait(max(0.0, deadline - time.monotonic()))
        for child in self.started:
            child.kill_group(wait=5)
        if self._thread is not None:
            self._thread.join(5)

    def stop_servers(self, keep_data: bool) -> None:
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            _stop_postgres(self.postgres)
            if not keep_data:
                shutil.rmtree(self.postgres.root, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        return {"prefork_workers": self.shape["prefork"], "prefork_concurrency": self.concurrency,
                "solo_workers": self.shape["solo"], "queues": QUEUES, "handler_modules": HANDLER_MODULES}


def _stop_postgres(server: OwnPostgres) -> None:
    """pg_ctl stop; if that fails or hangs, the postmaster's pid from its own pid file."""
    try:
        server.stop()
    except Exception:
        pass
    pid_file = server.data / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        # only the postmaster of this data folder: a stale pid file's number may be reused
        if str(server.data) not in " ".join(psutil.Process(pid).cmdline()):
            return
    except (OSError, ValueError, IndexError, psutil.Error):
        return
    try:
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown of the postmaster and its backends
        time.sleep(1)
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
