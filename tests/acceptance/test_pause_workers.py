"""A pause holds across hosts: two worker processes (each as another host would run it, sharing
only the database and Redis) and beat, a paused job type and 20 queued jobs. None starts while
the type is paused, whatever the sweeper does meanwhile; after the resume all complete, each
with one attempt."""
from __future__ import annotations

import time

import pytest

from audit.actors import Actor, Source
from jobs import services
from jobs.models import Job, JobAttempt
from tests.processes import wait_for

pytestmark = [pytest.mark.workers, pytest.mark.slow]


def test_a_paused_type_starts_on_no_worker_until_resumed_then_every_job_runs_once(processes):
    operator = Actor(user=None, source=Source.COMMAND, name="test (shell)", reason="pause across hosts")
    services.pause_set(kind="type", name="demo.sleep", by=operator)
    first = processes.worker(pool="prefork", concurrency=2)
    second = processes.worker(pool="solo", concurrency=1)
    processes.beat()
    ids = [services.job_create(type="demo.sleep", input={"seconds": 0.2, "steps": 2}).job.pk for _ in range(20)]

    # every message is delivered and put back: no message is left, no job started
    wait_for(lambda: Job.objects.filter(pk__in=ids, dispatched_at__isnull=True).count() == len(ids), timeout=60,
             message="every delivery to find the pause and put its job back to waiting")
    time.sleep(3)  # sweeper passes (every second in the suite) publish nothing of a paused type
    assert Job.objects.filter(pk__in=ids, status="queued", attempts=0, dispatched_at__isnull=True).count() == 20
    assert not JobAttempt.objects.filter(job_id__in=ids).exists()

    services.pause_lift(kind="type", name="demo.sleep", by=operator)
    wait_for(lambda: Job.objects.filter(pk__in=ids, status="completed").count() == len(ids), timeout=120,
             message="all 20 jobs to complete after the resume")
    assert set(Job.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}
    assert JobAttempt.objects.filter(job_id__in=ids).count() == 20
    ran_on = {worker.split("@")[0] for worker in Job.objects.filter(pk__in=ids).values_list("worker", flat=True)}
    assert ran_on <= {first.name, second.name}
    assert "waits: its type demo.sleep or queue" in first.log() + second.log()
