"""The sweeper decides that a message was lost from what the database knows (`jobs.services.sweeper`):
how far workers have taken each (queue, priority), and probes through quiet queues. Real
workers, Redis restarts and a backlog under load are in test_worker_limits.py."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from jobs import publishing, services
from jobs.models import DeliveryMark, Job
from jobs.tasks import note_delivery
from jobs.testing import jobs_recorded
from jobs.worker import marks
from tests.factories import make_job

pytestmark = pytest.mark.django_db(transaction=True)

MARGIN = timedelta(seconds=settings.JOBS_SWEEP_OVERTAKEN_AFTER)


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def sweep() -> list[str]:
    """One sweeper pass; the ids of the jobs it published."""
    with jobs_recorded() as sent:
        services.jobs_sweep()
    return [r.job_id for r in sent if r.job_type != "admit_waiting"]


def test_a_job_passed_over_by_a_later_claimed_message_is_published_again_with_a_new_token():
    lost = make_job(dispatched_at=ago(40))
    in_line = make_job(dispatched_at=ago(2))  # sent after the newest claimed message: still in Redis
    other_priority = make_job(dispatched_at=ago(40), priority=2)  # another list: nothing overtook it
    marks.raise_mark("default", 5, ago(20))
    assert sweep() == [str(lost.pk)]
    assert Job.objects.get(pk=lost.pk).token != lost.token
    assert Job.objects.get(pk=in_line.pk).token == in_line.token
    assert Job.objects.get(pk=other_priority.pk).token == other_priority.token
    assert sweep() == []  # its new message went out after the mark


def test_a_long_healthy_backlog_is_left_alone_however_old():
    backlog = [make_job(dispatched_at=ago(600 - i)) for i in range(50)]
    marks.raise_mark("default", 5, ago(601))
    assert sweep() == []
    assert all(Job.objects.get(pk=j.pk).token == j.token for j in backlog)


def test_a_job_due_later_is_not_lost_while_its_message_waits_in_a_worker():
    countdown = make_job(dispatched_at=ago(40), run_at=timezone.now() + timedelta(seconds=60))
    marks.raise_mark("default", 5, ago(5))
    assert sweep() == []
    Job.objects.filter(pk=countdown.pk).update(run_at=ago(30))  # its time came and went
    assert sweep() == [str(countdown.pk)]


def test_every_lost_job_is_found_in_one_pass_beyond_a_batch():
    from jobs.services import republish as recovery

    lost = services.jobs_create_bulk(type="test.noop", inputs=[{}] * (recovery.BATCH * 2 + 7))
    Job.objects.filter(pk__in=[j.pk for j in lost]).update(dispatched_at=ago(60))
    marks.raise_mark("default", 5, ago(10))
    assert len(sweep()) == len(lost)


def test_a_quiet_queue_gets_one_probe_and_the_probe_decides(monkeypatch):
    probes = []
    monkeypatch.setattr(publishing, "send_probe", lambda **kw: probes.append(kw))
    job = make_job(dispatched_at=ago(settings.JOBS_SWEEP_UNCLAIMED_AFTER + 5))
    assert sweep() == []
    assert [(p["queue"], p["priority"]) for p in probes] == [("default", 5)]
    assert sweep() == [] and len(probes) == 1  # one probe per JOBS_SWEEP_UNCLAIMED_AFTER
    # a worker takes the probe: everything sent before it was taken, and this job was not claimed
    note_delivery.apply(args=probes[0].values())
    assert DeliveryMark.objects.get(queue="default", priority=5).delivered_through is not None
    assert sweep() == [str(job.pk)]


def test_a_probe_is_a_real_message_in_the_queue_at_the_job_priority():
    from tests.integration.test_publishing import _client, _keys, messages

    _client().delete(*_keys())
    try:
        make_job(dispatched_at=ago(settings.JOBS_SWEEP_UNCLAIMED_AFTER + 5), priority=3)
        services.jobs_sweep()
        [probe] = messages()
        assert probe["headers"]["task"] == "jobs.note_delivery" and probe["key"] == "default:2"
        assert probe["args"][:2] == ["default", 3]
    finally:
        _client().delete(*_keys())


def test_marks_only_rise():
    marks.raise_mark("q1", 5, ago(10))
    marks.raise_mark("q1", 5, ago(20))
    through = DeliveryMark.objects.get(queue="q1", priority=5).delivered_through
    assert abs((through - ago(10)).total_seconds()) < 2


def test_a_claim_notes_its_message_time_and_the_flush_writes_the_newest():
    marks.flush()  # what earlier tests' inline runs noted in this process
    DeliveryMark.objects.all().delete()
    first = make_job(dispatched_at=ago(30))
    second = make_job(dispatched_at=ago(20))
    for job in (second, first):
        claimed = services.job_claim(job_id=job.pk, token=job.token, worker="w@test")
        marks.note_claimed(claimed.queue, claimed.priority, claimed.dispatched_at)
    marks.flush()
    assert DeliveryMark.objects.get(queue="default", priority=5).delivered_through == \
        Job.objects.get(pk=second.pk).dispatched_at
