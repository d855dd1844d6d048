"""The load: N jobs drawn from the seed, created one by one with `job_create` at a steady rate
from a thread of the soak's process, across the fault window.

A creation that fails (PostgreSQL is down) is tried again until it succeeds; before trying
again, the creator looks for the job by its sequence number, since a commit can succeed though
its answer was lost. So exactly N jobs are created, each once.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from soak.journal import Journal
from soak.spec import FREE, KEYED, KEYS, MAX_SLEEP_MS, PAIR

# A creation that keeps failing this long is the platform's bug, not an outage: stop loading.
GIVE_UP_AFTER = 120.0


@dataclass(frozen=True)
class Planned:
    n: int
    type: str
    input: dict[str, Any]


def draw(rng: random.Random, jobs: int, limited_share: float) -> list[Planned]:
    """The jobs, in creation order: half of `limited_share` of them limited to two at once
    globally, half limited to one at a time per key (two keys), the rest unlimited."""
    planned = []
    for n in range(jobs):
        roll = rng.random()
        job_type = PAIR if roll < limited_share / 2 else KEYED if roll < limited_share else FREE
        payload: dict[str, Any] = {"n": n, "ms": rng.randint(0, MAX_SLEEP_MS)}
        if job_type == KEYED:
            payload["key"] = rng.choice(KEYS)
        planned.append(Planned(n, job_type, payload))
    return planned


class Creator(threading.Thread):
    def __init__(self, planned: list[Planned], rate: float, journal: Journal) -> None:
        super().__init__(name="soak-creator", daemon=True)
        self.planned = planned
        self.rate = rate
        self.journal = journal
        self.t0 = 0.0
        self.created = 0
        self.retried = 0  # creations that failed and were tried again
        self.error: str | None = None
        self.finished_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        from django.db import connection

        self.t0 = self.t0 or time.time()
        try:
            for job in self.planned:
                # on a schedule, not a sleep after each: a creator held up by an outage catches up
                if self.stop.wait(max(0.0, self.t0 + job.n / self.rate - time.time())):
                    return
                if not self._create(job):
                    return
                self.created += 1
            self.finished_at = time.time()
        except BaseException as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    def _create(self, job: Planned) -> bool:
        from django.db import connection

        from jobs.models import Job
        from jobs.services import job_create

        first_failure: float | None = None
        while not self.stop.is_set():
            try:
                if first_failure is not None and Job.objects.filter(type=job.type, input__n=job.n).exists():
                    return True  # the failed try had committed
                job_create(type=job.type, input=job.input)
                return True
            except Exception as exc:  # the database is away; anything else shows as it persists
                connection.close()
                now = time.monotonic()
                if first_failure is None:
                    first_failure = now
                    self.retried += 1
                    self.journal.add("create_retry", f"creating job #{job.n} failed ({type(exc).__name__}: "
                                     f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); trying again")
                elif now - first_failure > GIVE_UP_AFTER:
                    self.error = (f"job #{job.n} could not be created for {GIVE_UP_AFTER:.0f}s: "
                                  f"{type(exc).__name__}: {exc}")
                    self.journal.add("create_failed", self.error)
                    return False
                time.sleep(0.5)
        return False
