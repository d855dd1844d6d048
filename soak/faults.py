"""The faults of a soak: when each strikes (a plan drawn from the seed) and what it does.

Kinds: `sigkill` (a worker's whole process group, replaced at once), `sigterm` (a worker's main
process: Celery's warm shutdown, replaced at once), `redis_restart` (stopped, started again on
the same port: every message is gone), `postgres_restart` (stopped in fast mode, down for some
seconds, started again). The Redis restart comes early: lost messages wait longest for the
sweeper, so an early one keeps the soak short without shortening any recovery setting.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from soak.cluster import Cluster
from soak.journal import Journal


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the load started
    kind: str


KINDS = ("redis_restart", "postgres_restart", "sigterm", "sigkill")
MIN_GAP = 1.5  # seconds between the end of one fault and the next


def plan(rng: random.Random, start: float, end: float, kills: int, kinds: tuple[str, ...] = KINDS) -> list[Fault]:
    """Faults spread over [start, end] seconds of the load: the Redis restart early,
    the PostgreSQL restart and the SIGTERM in the middle, the SIGKILLs at random times, one in
    each of `kills` equal slices of the window's later 85 %. Only the `kinds` asked for; every
    draw is made whatever they are, so that a kind left out moves no other fault."""
    span = max(end - start, 0.0)

    def at(low: float, high: float) -> float:
        return round(start + span * rng.uniform(low, high), 2)

    faults = [Fault(at(0.05, 0.15), "redis_restart"), Fault(at(0.35, 0.45), "postgres_restart"),
              Fault(at(0.55, 0.65), "sigterm")]
    for n in range(kills):
        low = 0.15 + 0.85 * n / kills
        faults.append(Fault(at(low, low + 0.85 / kills), "sigkill"))
    return sorted((fault for fault in faults if fault.kind in kinds), key=lambda fault: fault.at)


class FaultRunner:
    """Strikes the planned faults in order, each at its time or as soon as the one before is
    over (a restart takes some seconds); remembers when the last one ended."""

    def __init__(self, cluster: Cluster, journal: Journal, rng: random.Random, *, redis_down: float,
                 postgres_down: float, shutdown_deadline: float) -> None:
        self.cluster = cluster
        self.journal = journal
        self.rng = rng
        self.redis_down = redis_down
        self.postgres_down = postgres_down
        self.shutdown_deadline = shutdown_deadline
        self.last_fault_end: float | None = None

    def run(self, faults: list[Fault], t0: float, stop: threading.Event) -> None:
        for fault in faults:
            # a fault held up by a restart before it waits a little more: faults that strike
            # all at once are harder to read in the report
            due = max(t0 + fault.at, (self.last_fault_end or 0.0) + MIN_GAP)
            if stop.wait(max(0.0, due - time.time())):
                return
            entry = self.strike(fault)
            if entry is not None:
                self.last_fault_end = max(self.last_fault_end or 0.0, entry.get("until", entry["t"]))

    def strike(self, fault: Fault) -> dict[str, Any] | None:
        cluster, journal = self.cluster, self.journal
        if fault.kind in ("sigkill", "sigterm"):
            worker = cluster.take_worker(self.rng)
            if worker is None:
                journal.add("fault_skipped", f"{fault.kind}: no serving worker to strike")
                return None
            if fault.kind == "sigkill":
                t = cluster.kill(worker)
                entry = journal.add("sigkill", f"SIGKILL to the process group of {worker.name} (pgid {worker.pid})",
                                    t=t, worker=worker.name, pgid=worker.pid)
                cluster.replace(worker, "killed")
            else:
                t = cluster.terminate(worker, self.shutdown_deadline)
                entry = journal.add("sigterm", f"SIGTERM to {worker.name} (pid {worker.pid}): warm shutdown",
                                    t=t, worker=worker.name, pgid=worker.pid)
                cluster.replace(worker, "warm shutdown")
            return entry
        if fault.kind == "redis_restart":
            stopped, back, held = cluster.restart_redis(self.redis_down)
            lost = (f"{held['queued']} queued and {held['unacked']} unacked message(s) lost" if held
                    else "every message lost")
            return journal.add("redis_restart", f"Redis stopped, started again {back - stopped:.1f}s later on the "
                               f"same port ({lost})", t=stopped, until=back, messages=held)
        if fault.kind == "postgres_restart":
            stopped, back = cluster.restart_postgres(self.postgres_down)
            return journal.add("postgres_restart", f"PostgreSQL stopped (fast), accepting connections again "
                               f"{back - stopped:.1f}s later", t=stopped, until=back)
        raise ValueError(f"unknown fault {fault.kind!r}")
