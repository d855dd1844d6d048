"""The admin's stuck filters and recovery read one definition: the Job queryset's `stale(now)`
and `unclaimed(now)`. Changing a setting moves both at once: what the admin lists as stuck is
what the rescuer rescues and what the sweeper acts on, and nothing else."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from jobs import selectors, services
from jobs.models import DeliveryMark, Job
from jobs.states import JobStatus
from jobs.testing import jobs_recorded
from tests.factories import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def ago(seconds: float) -> datetime:
    return timezone.now() - timedelta(seconds=seconds)


def listed(kind: selectors.StuckKind) -> set[Any]:
    return set(selectors.stuck_jobs(kind=kind).values_list("pk", flat=True))


def sweep() -> list[str]:
    """One sweeper pass; the ids of the jobs it published."""
    with jobs_recorded() as sent:
        services.jobs_sweep()
    return [r.job_id for r in sent if r.job_type not in ("admit_waiting", "note_delivery")]


def probed() -> bool:
    return DeliveryMark.objects.filter(queue="default", priority=5, probe_sent_at__isnull=False).exists()


def test_the_heartbeat_timeout_moves_the_stale_filter_and_the_rescuer_together() -> None:
    job = make_job("running", heartbeat_at=ago(60))
    with override_settings(JOBS_HEARTBEAT_TIMEOUT=120):
        assert listed("stale") == set() and not Job.objects.stale().exists()
        assert services.jobs_rescue_stale() == 0
        assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING
    with override_settings(JOBS_HEARTBEAT_TIMEOUT=30):
        assert listed("stale") == {job.pk} == set(Job.objects.stale().values_list("pk", flat=True))
        assert services.jobs_rescue_stale() == 1
        assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
        assert listed("stale") == set()


def test_a_running_job_that_never_heartbeated_is_listed_and_rescued_alike() -> None:
    job = make_job("running", heartbeat_at=None)
    Job.objects.filter(pk=job.pk).update(updated_at=ago(60))
    with override_settings(JOBS_HEARTBEAT_TIMEOUT=120):
        assert listed("stale") == set()
        assert services.jobs_rescue_stale() == 0
    with override_settings(JOBS_HEARTBEAT_TIMEOUT=30):
        assert listed("stale") == {job.pk}
        assert services.jobs_rescue_stale() == 1
        assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


def test_the_unclaimed_wait_moves_the_unclaimed_filter_and_the_sweepers_probe_together() -> None:
    DeliveryMark.objects.all().delete()
    job = make_job(queued_at=ago(60), dispatched_at=ago(60))
    with override_settings(JOBS_SWEEP_UNCLAIMED_AFTER=120, JOBS_SWEEP_OVERTAKEN_AFTER=1):
        assert listed("unclaimed") == set() and not Job.objects.unclaimed().exists()
        assert sweep() == [] and not probed()
    with override_settings(JOBS_SWEEP_UNCLAIMED_AFTER=30, JOBS_SWEEP_OVERTAKEN_AFTER=1):
        assert listed("unclaimed") == {job.pk} == set(Job.objects.unclaimed().values_list("pk", flat=True))
        assert sweep() == [] and probed()  # a probe through its queue, to learn whether the message is there


def test_the_overtaken_margin_moves_the_unclaimed_filter_and_the_republishing_together() -> None:
    DeliveryMark.objects.all().delete()
    job = make_job(queued_at=ago(40), dispatched_at=ago(40))
    # workers took messages sent 20 s ago from its list
    DeliveryMark.objects.create(queue="default", priority=5, delivered_through=ago(20))
    with override_settings(JOBS_SWEEP_UNCLAIMED_AFTER=600, JOBS_SWEEP_OVERTAKEN_AFTER=30):
        assert listed("unclaimed") == set() and not Job.objects.overtaken().exists()
        assert sweep() == []
    with override_settings(JOBS_SWEEP_UNCLAIMED_AFTER=600, JOBS_SWEEP_OVERTAKEN_AFTER=10):
        assert listed("unclaimed") == {job.pk} == set(Job.objects.overtaken().values_list("pk", flat=True))
        assert sweep() == [str(job.pk)]
        assert listed("unclaimed") == set()  # its new message went out after the mark


def test_held_jobs_are_unclaimed_once_due_for_the_wait_and_jobs_at_their_gate_never() -> None:
    held = make_job(queued_at=ago(60), dispatched_at=None)
    not_due = make_job(queued_at=ago(60), dispatched_at=None, run_at=timezone.now() + timedelta(hours=1))
    at_gate = make_job(queued_at=ago(60), dispatched_at=None, gate="demo.sleep")
    with override_settings(JOBS_SWEEP_UNCLAIMED_AFTER=120):
        assert listed("unclaimed") == set()
    with override_settings(JOBS_SWEEP_UNCLAIMED_AFTER=30):
        assert listed("unclaimed") == {held.pk}
        assert set(Job.objects.held().due().values_list("pk", flat=True)) == {held.pk}
    assert not_due.pk not in listed("any") and at_gate.pk not in listed("any")
