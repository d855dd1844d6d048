"""Each path of a job's life counts in the right metric, once, when its transaction commits:
rescues, the sweeper's publishes (held or lost), and every final reason. (A publish the broker
refuses is counted in test_publishing.py, which points Celery at a dead broker.)"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from jobs import services
from jobs.models import Job
from jobs.testing import jobs_recorded
from jobs.worker import marks
from telemetry import recorder, redis_client
from tests.factories import make_job

pytestmark = pytest.mark.django_db(transaction=True)

Sums = dict[tuple[str, tuple[str, ...], str], float]


@pytest.fixture(autouse=True)
def _fresh_sums() -> Iterator[None]:
    recorder.flush()
    redis_client.client().delete(recorder.HASH_KEY)
    yield


def sums() -> Sums:
    recorder.flush()
    return recorder.read()


def counter(name: str, *values: str) -> float:
    return sums().get((name, values, ""), 0.0)


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def claim(job: Job) -> Job:
    claimed = services.job_claim(job_id=job.pk, token=job.token, worker="w1@test")
    assert claimed is not None
    return claimed


def stale(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(heartbeat_at=ago(settings.JOBS_HEARTBEAT_TIMEOUT + 5))


def test_a_rescue_counts_a_lost_attempt_and_a_rescue_and_no_run_time() -> None:
    job = claim(make_job())
    stale(job)
    with jobs_recorded():
        assert services.jobs_rescue_stale() == 1
    assert counter("conveyor_job_rescues_total", "default", "demo.sleep") == 1
    assert counter("conveyor_job_attempts_total", "default", "demo.sleep", "lost") == 1
    # the claim observed a queue wait; a lost execution's run time is unknown
    assert sums().get(("conveyor_job_queue_wait_seconds", ("default", "demo.sleep"), "count")) == 1
    assert ("conveyor_job_run_seconds", ("default", "demo.sleep"), "count") not in sums()


@override_settings(JOBS_MAX_RESCUES=0)
def test_a_poison_pill_finishes_failed_for_the_reason_rescues() -> None:
    job = claim(make_job())
    stale(job)
    services.jobs_rescue_stale()
    assert counter("conveyor_jobs_finished_total", "default", "demo.sleep", "failed", "rescues") == 1


def test_expiry_and_cancel_finish_for_their_reasons() -> None:
    overdue = make_job(expires_at=ago(1))
    queued = make_job()
    services.jobs_sweep()
    services.job_cancel(job_id=queued.pk)
    assert Job.objects.get(pk=overdue.pk).status == "failed"
    assert counter("conveyor_jobs_finished_total", "default", "demo.sleep", "failed", "expired") == 1
    assert counter("conveyor_jobs_finished_total", "default", "demo.sleep", "cancelled", "cancelled") == 1


def test_the_sweeper_tells_held_jobs_from_lost_messages() -> None:
    make_job(dispatched_at=None, run_at=ago(1))  # held: kept in the database until due
    make_job(dispatched_at=ago(40))  # lost: a later message of its list was claimed
    marks.raise_mark("default", 5, ago(20))
    with jobs_recorded():
        services.jobs_sweep()
    assert counter("conveyor_job_republishes_total", "default", "held") == 1
    assert counter("conveyor_job_republishes_total", "default", "lost") == 1


def test_a_creation_rolled_back_is_not_counted() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        services.job_create(type="demo.sleep", input={})
        raise RuntimeError("the caller's transaction fails after the create")
    assert counter("conveyor_jobs_created_total", "default", "demo.sleep") == 0
    services.job_create(type="demo.sleep", input={})
    assert counter("conveyor_jobs_created_total", "default", "demo.sleep") == 1
