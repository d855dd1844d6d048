"""The Celery worker processes that drain each run, under the settings the bench compares.

Each run starts workers of its own, so that no run inherits another's warm processes or
prefetched messages.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.environment import BASE_DIR

# name: (label, worker processes, pool processes each, Celery pool). The first is the
# comparison the targets name (prefork, 2 processes); the others look for the best settings.
WORKER_SETTINGS: dict[str, tuple[str, int, int, str]] = {
    "prefork": ("prefork -c 2", 1, 2, "prefork"),
    "solo": ("2 solo workers", 2, 1, "solo"),
    "prefork4": ("prefork -c 4", 1, 4, "prefork"),
    "solo4": ("4 solo workers", 4, 1, "solo"),
}
# Celery's task events in the drain's workers (`--events`), Conveyor's and bare Celery's alike
EVENTS = ("on", "off")


@dataclass
class Workers:
    """Worker processes of one configuration, started and stopped together."""

    app: str
    queue: str
    pool: str
    env: dict[str, str]
    log_dir: Path
    # Celery's task events: on (-E) or off for Conveyor's and bare Celery's workers alike;
    # None leaves the settings' default
    events: bool | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def start(self, idle: bool = False) -> Workers:
        """Start the processes; `idle` ones consume nothing until consume() (so that their
        start-up CPU is not counted)."""
        count, concurrency, pool = WORKER_SETTINGS[self.pool][1:]
        env = dict(self.env)
        if self.events is not None:
            # read by Conveyor's settings; bare Celery's app sends none unless -E says so
            env["CELERY_WORKER_SEND_TASK_EVENTS"] = "1" if self.events else "0"
        for n in range(count):
            name = f"bench{n}-{uuid.uuid4().hex[:4]}"
            self.names.append(name)
            log = (self.log_dir / f"{name}.log").open("wb")
            args = [sys.executable, "-m", "celery", "-A", self.app, "worker", "-P", pool, "-c", str(concurrency),
                    "-Q", "bench-idle" if idle else self.queue, "-n", f"{name}@%h",
                    "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
                    *(["-E"] if self.events else [])]
            self.processes.append(subprocess.Popen(args, cwd=BASE_DIR, env=env, stdout=log,
                                                   stderr=subprocess.STDOUT, start_new_session=True))
            deadline = time.monotonic() + 60
            while b" ready." not in (self.log_dir / f"{name}.log").read_bytes():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {name} did not start; see {self.log_dir}")
                time.sleep(0.1)
        return self

    def consume(self) -> None:
        """Start consuming the queue (or the comma-separated queues): workers start idle so that
        their start-up is not measured."""
        from config.celery import app as control_app

        host = socket.gethostname()
        control_app.conf.broker_url = self.env["REDIS_URL"]
        for queue in self.queue.split(","):
            replies = control_app.control.add_consumer(queue, destination=[f"{n}@{host}" for n in self.names],
                                                       reply=True, timeout=5)
            if len(replies) != len(self.names):
                raise RuntimeError(f"only {len(replies)} of {len(self.names)} workers took {queue}: {replies}")
        # consuming two queues would make each BRPOP wait on the idle one too
        control_app.control.cancel_consumer("bench-idle", destination=[f"{n}@{host}" for n in self.names],
                                            reply=True, timeout=5)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        for p in self.processes:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.processes:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.processes.clear()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)
