"""Jobs of limited types wait in the database and are admitted as their limit has room
(`jobs.services.gates`); no worker here: messages are recorded, executions driven through the services.
Behaviour across real workers is in test_worker_limits.py."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from handlers.registry import get_handler
from jobs import publishing, services
from jobs.models import Job
from jobs.services import gates
from jobs.testing import jobs_recorded
from tests.factories import make_org

# real commits, so that on_commit callbacks (publishing, admission) run as in production
pytestmark = pytest.mark.django_db(transaction=True)


class _Sent:
    """What has been published so far in the test (jobs_recorded hands it over only at the end)."""

    def __init__(self, start: int) -> None:
        self.start = start

    def __iter__(self):
        return iter(publishing.recorded[self.start:])


@pytest.fixture
def sent():
    with jobs_recorded():
        yield _Sent(len(publishing.recorded))


def row(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


def admitted(jobs: list[Job]) -> list[Job]:
    return [job for job in jobs if row(job).dispatched_at is not None]


def run_to_completion(job: Job) -> None:
    current = row(job)
    claimed = services.job_claim(job_id=current.pk, token=current.token, worker="w@test")
    assert claimed is not None
    services.job_complete(job=claimed, result={})


def test_a_limited_type_gets_messages_only_for_the_room_its_limit_has(sent):
    jobs = [services.job_create(type="test.limited4", input={"path": "x"}).job for _ in range(7)]
    assert len(admitted(jobs)) == 4
    assert len([r for r in sent if r.job_type == "test.limited4"]) == 4
    waiting = [row(job) for job in jobs[4:]]
    assert all(w.status == "queued" and w.dispatched_at is None and w.gate == "test.limited4" for w in waiting)


def test_an_unlimited_type_has_no_gate_and_is_published_at_once(sent):
    job = services.job_create(type="demo.sleep", input={"seconds": 0}).job
    assert row(job).gate is None and row(job).dispatched_at is not None
    assert [r.job_id for r in sent] == [str(job.pk)]


def test_the_end_of_a_run_admits_the_next_waiting_job_most_urgent_first_then_oldest(sent):
    first = services.job_create(type="test.limited1", input={"path": "x"}).job
    later_low = services.job_create(type="test.limited1", input={"path": "x"}, priority=7).job
    urgent = services.job_create(type="test.limited1", input={"path": "x"}, priority=2).job
    urgent_later = services.job_create(type="test.limited1", input={"path": "x"}, priority=2).job
    assert admitted([first, later_low, urgent, urgent_later]) == [first]
    run_to_completion(first)
    assert admitted([later_low, urgent, urgent_later]) == [urgent]
    run_to_completion(urgent)
    assert admitted([later_low, urgent_later]) == [urgent_later]
    run_to_completion(urgent_later)
    assert admitted([later_low]) == [later_low]
    assert [r.job_id for r in sent] == [str(j.pk) for j in (first, urgent, urgent_later, later_low)]


def test_a_limit_per_key_admits_each_key_on_its_own(sent):
    org_a, org_b = make_org(), make_org()
    a = [services.job_create(type="test.per_org", input={"path": "x"}, organization=org_a).job for _ in range(3)]
    b = [services.job_create(type="test.per_org", input={"path": "x"}, organization=org_b).job for _ in range(3)]
    assert admitted(a) == a[:1] and admitted(b) == b[:1]


def test_a_stale_message_claims_nothing_and_leaves_the_running_execution_its_slot(sent):
    job = services.job_create(type="test.limited1", input={"path": "x"}).job
    waiting = services.job_create(type="test.limited1", input={"path": "x"}).job
    stale_token = row(job).token
    running = services.job_claim(job_id=job.pk, token=stale_token, worker="w@test")
    # the same message again (a redelivery, or a sweeper's false alarm): nothing moves
    assert services.job_claim(job_id=job.pk, token=stale_token, worker="w2@test") is None
    assert gates.admit("test.limited1") == 0
    assert row(running).status == "running" and admitted([waiting]) == []
    services.job_complete(job=running, result={})
    assert admitted([waiting]) == [waiting]


def test_a_failed_attempt_frees_its_room_and_waits_for_its_backoff_without_a_message(sent):
    job = services.job_create(type="test.limited1", input={"path": "x"}).job
    other = services.job_create(type="test.limited1", input={"path": "x"}).job
    claimed = services.job_claim(job_id=job.pk, token=row(job).token, worker="w@test")
    assert services.job_fail(job=claimed, error="boom") == "queued"
    retried = row(job)
    assert retried.dispatched_at is None and retried.run_at > timezone.now()
    assert admitted([other]) == [other]  # the room went to the job that was waiting
    timers = [r for r in sent if r.job_type == "admit_waiting"]
    assert [(t.job_id, t.countdown is not None and 0 < t.countdown <= 5) for t in timers] == [("test.limited1", True)]


def test_cancelling_an_admitted_job_gives_its_room_to_the_next(sent):
    job = services.job_create(type="test.limited1", input={"path": "x"}).job
    waiting = services.job_create(type="test.limited1", input={"path": "x"}).job
    services.job_cancel(job_id=job.pk)
    assert admitted([waiting]) == [waiting]


def test_a_rescued_execution_frees_its_room_and_waits_again(sent):
    job = services.job_create(type="test.limited1", input={"path": "x"}).job
    waiting = services.job_create(type="test.limited1", input={"path": "x"}).job
    services.job_claim(job_id=job.pk, token=row(job).token, worker="w@test")
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert services.jobs_rescue_stale() == 1
    assert admitted([waiting]) == [waiting]
    assert row(job).status == "queued" and row(job).dispatched_at is None


def test_the_sweeper_admits_what_a_crash_left_waiting(sent):
    jobs = [services.job_create(type="test.limited4", input={"path": "x"}).job for _ in range(6)]
    # an execution ended but its process died before admitting the next (set-up)
    Job.objects.filter(pk__in=[j.pk for j in admitted(jobs)][:2]).update(status="completed")
    assert services.jobs_sweep() == 2
    assert len(admitted(jobs)) == 6


def test_a_type_that_lost_its_limit_lets_its_waiting_jobs_go_through_the_sweeper(sent):
    job = services.job_create(type="demo.sleep", input={"seconds": 0}).job
    Job.objects.filter(pk=job.pk).update(gate="retired.type", dispatched_at=None)  # set-up: an old limit
    assert services.jobs_sweep() == 1
    assert row(job).gate is None and row(job).dispatched_at is not None


def test_a_delayed_limited_job_waits_with_a_timer_and_no_message(sent):
    job = services.job_create(type="test.limited1", input={"path": "x"}, delay=30).job
    assert row(job).dispatched_at is None
    assert [(r.job_type, r.job_id, round(r.countdown)) for r in sent] == [("admit_waiting", "test.limited1", 30)]
    assert gates.admit("test.limited1") == 0  # not due yet


def test_bulk_creation_of_a_limited_type_admits_what_fits(sent):
    jobs = services.jobs_create_bulk(type="test.limited4", inputs=[{"path": "x"}] * 10)
    assert len(admitted(jobs)) == 4


def test_a_rate_limited_type_admits_what_its_window_leaves(sent):
    from jobs import limits

    limits.client().delete("conveyor:rate:test.rated")
    jobs = [services.job_create(type="test.rated", input={"path": "x"}).job for _ in range(5)]
    assert len(admitted(jobs)) == 3  # 3 per 2 s, none started yet
    for job in admitted(jobs):
        assert gates.take_start(get_handler("test.rated")) == 0
        run_to_completion(job)
    assert len(admitted(jobs)) == 3  # the window is full: the last two wait for it
    timers = [r for r in sent if r.job_type == "admit_waiting"]
    assert timers and all(0 < t.countdown <= 2 for t in timers)
