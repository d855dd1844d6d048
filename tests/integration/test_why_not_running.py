""""Why is this job not running?": each situation built in the database (and Redis), and the
reason the platform gives for it (`jobs.selectors.why`)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from audit.actors import Actor, Source
from jobs import limits, services
from jobs.models import DeliveryMark, Job, PauseKind
from jobs.selectors.why import Reason, why_not_running
from jobs.services.expiry import jobs_expire_overdue
from telemetry import liveness, redis_client
from tests.factories import job_in_status, make_job, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """No worker, beat or rate limit left in Redis by another test."""
    def clean() -> None:
        client = redis_client.client()
        for pattern in ("conveyor:liveness:*", "conveyor:rate:*"):
            keys = list(client.scan_iter(match=pattern))
            if keys:
                client.delete(*keys)

    clean()
    yield
    clean()


def live_worker(*queues: str, name: str = "celery@test-host") -> None:
    liveness.record_worker(liveness.WorkerRecord(name=name, hostname="test-host", pid=1, queues=queues,
                                                 concurrency=2, busy=0, seen_at=time.time()))


@pytest.fixture
def healthy() -> None:
    """A worker on every queue of these tests, the system queue included, and beat ticking."""
    live_worker("default", "attachments", settings.JOBS_SYSTEM_QUEUE)
    liveness.record_beat_tick()


def reasons(job: Job) -> list[Reason]:
    job.refresh_from_db()
    return why_not_running(job=job)


def codes(job: Job) -> list[str]:
    return [reason.code for reason in reasons(job)]


def reason(job: Job, code: str) -> Reason:
    found = [r for r in reasons(job) if r.code == code]
    assert found, f"no {code!r} reason among {codes(job)}"
    return found[0]


def seconds_from_now(moment: Any) -> float:
    return (moment - timezone.now()).total_seconds()


# --- time -----------------------------------------------------------------------------------


def test_run_at_in_the_future(healthy: None) -> None:
    job = job_in_status("queued", delay=3600)
    found = reason(job, "scheduled")
    assert found.blocking and found.at == job.run_at
    assert "Its run_at is in the future" in found.text and "(in 59m" in found.text
    assert "the sweeper publishes it at its first pass after" in found.text  # an hour: held in the database


def test_debounce_window(healthy: None) -> None:
    first = services.job_create(type="test.debounced", input={"item": 7}).job
    again = services.job_create(type="test.debounced", input={"item": 7}).job  # pushes the window back
    assert again.pk == first.pk
    found = reason(first, "debounce")
    first.refresh_from_db()
    assert found.at == first.run_at and "item-7" in found.text and "pushes it back 1s" in found.text
    assert "scheduled" not in codes(first)


def test_retry_backoff(healthy: None) -> None:
    job = job_in_status("running", type="test.flaky_fast")
    assert services.job_fail(job=job, error="planned", delay=600) == "queued"
    found = reason(job, "backoff")
    job.refresh_from_db()
    assert found.at == job.run_at and "Attempt 1 ended (Failed (will retry))" in found.text


# --- pauses -----------------------------------------------------------------------------------


def test_paused_type_and_queue_say_by_whom_why_and_until(healthy: None) -> None:
    alice = make_user("alice", is_staff=True, is_superuser=True)
    until = timezone.now() + timedelta(hours=2)
    services.pause_set(kind=PauseKind.TYPE, name="demo.sleep", until=until,
                       by=Actor(user=alice, source=Source.ADMIN, reason="the disk is being replaced"))
    services.pause_set(kind=PauseKind.QUEUE, name="default", by=Actor(user=alice, source=Source.API))
    job = job_in_status("queued")
    paused = [r for r in reasons(job) if r.code == "paused"]
    assert [r.text.split(" is paused")[0] for r in paused] == ["Its type demo.sleep", "Its queue default"]
    assert "by alice" in paused[0].text and '"the disk is being replaced"' in paused[0].text
    assert paused[0].at == until and "(in 1h59m" in paused[0].text
    assert "until someone resumes it" in paused[1].text and "(no reason given)" in paused[1].text
    # a pause is why: not "waiting its turn", not "lost"
    assert "waiting_turn" not in codes(job) and "held" not in codes(job)


def test_a_pause_that_ended_holds_nothing(healthy: None) -> None:
    alice = make_user("alice", is_staff=True, is_superuser=True)
    services.pause_set(kind=PauseKind.TYPE, name="demo.sleep", until=timezone.now() + timedelta(seconds=30),
                       by=Actor(user=alice, source=Source.ADMIN))
    job = job_in_status("queued")
    assert "paused" in codes(job)
    assert "paused" not in [r.code for r in why_not_running(job=job, now=timezone.now() + timedelta(minutes=1))]


# --- limits -------------------------------------------------------------------------------------


def test_concurrency_key_held_by_named_jobs(healthy: None) -> None:
    holder = make_job("running", type="test.per_key", input={"key": "a"}, concurrency_key="key:a",
                      gate="test.per_key|key:a")
    make_job("running", type="test.per_key", input={"key": "b"}, concurrency_key="key:b",
             gate="test.per_key|key:b")  # another key's: not in the way
    waiting = make_job("queued", type="test.per_key", input={"key": "a"}, concurrency_key="key:a",
                       gate="test.per_key|key:a", dispatched_at=None)
    found = reason(waiting, "concurrency")
    assert found.blocking and found.job_ids == (str(holder.pk),)
    assert f"(1 at once per key:a) is full: held by job {holder.pk}" in found.text


def test_concurrency_limit_of_two_names_both_holders(healthy: None) -> None:
    running = make_job("running", type="test.limited2", gate="test.limited2")
    admitted = make_job("queued", type="test.limited2", gate="test.limited2")  # its message out: a slot
    waiting = make_job("queued", type="test.limited2", gate="test.limited2", dispatched_at=None)
    found = reason(waiting, "concurrency")
    assert set(found.job_ids) == {str(running.pk), str(admitted.pk)}
    assert f"held by jobs {running.pk} and {admitted.pk}" in found.text or \
        f"held by jobs {admitted.pk} and {running.pk}" in found.text


def test_waiting_at_a_gate_with_room_is_admitted_by_the_sweeper(healthy: None) -> None:
    waiting = make_job("queued", type="test.limited2", gate="test.limited2", dispatched_at=None)
    found = reason(waiting, "at_gate")
    assert found.blocking and "Its limit has room" in found.text
    assert 0 < seconds_from_now(found.at) <= settings.JOBS_SWEEP_INTERVAL + 1


def test_rate_limit_admits_it_when_its_window_opens(healthy: None) -> None:
    for _ in range(3):  # test.rated: 3 starts per 2 s, all taken now
        assert limits.take_rate("test.rated", 3, 2.0) == 0
    waiting = make_job("queued", type="test.rated", gate="test.rated", dispatched_at=None)
    found = reason(waiting, "rate_limit")
    assert found.blocking and "(3 starts per 2s, across every worker) has no room now" in found.text
    assert 0 < seconds_from_now(found.at) <= 2.1


def test_a_rate_limit_with_room_is_no_reason(healthy: None) -> None:
    waiting = make_job("queued", type="test.rated", gate="test.rated", dispatched_at=None)
    assert "rate_limit" not in codes(waiting)


# --- workers, messages and the sweeper ------------------------------------------------------------


def test_nobody_consumes_its_queue(healthy: None) -> None:
    job = job_in_status("queued", type="process-attachment", input={"attachment_id": "1"})
    assert "no_worker" not in codes(job)  # the healthy fixture's worker consumes "attachments"
    liveness.forget_worker("celery@test-host")
    live_worker("default", settings.JOBS_SYSTEM_QUEUE, name="celery@other-host")
    found = reason(job, "no_worker")
    assert found.blocking and "Nobody consumes its queue attachments: no live worker lists it" in found.text
    assert "consume default, system" in found.text


def test_no_live_worker_at_all() -> None:
    job = job_in_status("queued")
    found = reason(job, "no_worker")
    assert "no worker is live" in found.text


def test_held_job_is_published_by_the_sweeper(healthy: None) -> None:
    job = make_job("queued", dispatched_at=None)  # a publish that failed
    found = reason(job, "held")
    assert found.blocking and "held in the database" in found.text
    assert 0 < seconds_from_now(found.at) <= settings.JOBS_SWEEP_INTERVAL + 1


def test_held_job_without_beat_or_a_system_worker_says_nothing_publishes_it() -> None:
    live_worker("default")  # no worker on the system queue, and beat never ticked
    job = make_job("queued", dispatched_at=None)
    found = [r.text for r in reasons(job) if r.code == "no_sweeper"]
    assert len(found) == 2
    assert "The sweeper runs on the queue system, which no live worker consumes" in found[0]
    assert "beat, which fires the sweeper" in found[1] and "it ticked never" in found[1]


def test_message_presumed_lost_is_republished_by_the_sweeper(healthy: None) -> None:
    now = timezone.now()
    job = make_job("queued", dispatched_at=now - timedelta(seconds=60))
    DeliveryMark.objects.create(queue="default", priority=job.priority, delivered_through=now - timedelta(seconds=5))
    found = reason(job, "lost")
    assert found.blocking and "Its message is presumed lost" in found.text
    assert 0 < seconds_from_now(found.at) <= settings.JOBS_SWEEP_INTERVAL + 1
    # the same job is one the sweeper's rule calls overtaken
    assert Job.objects.overtaken().filter(pk=job.pk).exists()


def test_late_message_in_a_quiet_queue_gets_a_probe(healthy: None) -> None:
    job = make_job("queued", dispatched_at=timezone.now() - timedelta(seconds=settings.JOBS_SWEEP_UNCLAIMED_AFTER + 5))
    found = reason(job, "late")
    assert "Nobody has claimed it since its message went out" in found.text and "probe" in found.text
    assert Job.objects.late().filter(pk=job.pk).exists()


def test_nothing_wrong_it_waits_its_turn_behind_due_jobs_of_its_queue(healthy: None) -> None:
    now = timezone.now()
    make_job("queued", dispatched_at=now - timedelta(seconds=0.5))  # sent before it
    make_job("queued", dispatched_at=now - timedelta(seconds=0.4), priority=9)  # less urgent: after it
    make_job("queued", dispatched_at=now - timedelta(seconds=0.1))  # sent after it: after it
    make_job("queued", dispatched_at=now, priority=1)  # more urgent: before it
    make_job("queued", dispatched_at=now - timedelta(seconds=0.6), run_at=now + timedelta(hours=1))  # not due
    make_job("queued", type="process-attachment", input={}, queue="attachments",
             dispatched_at=now - timedelta(seconds=0.5))  # another queue
    job = make_job("queued", dispatched_at=now - timedelta(seconds=0.3))
    found = reasons(job)
    assert [r.code for r in found] == ["waiting_turn"]
    assert not found[0].blocking
    assert "is waiting its turn behind 2 due jobs of its queue default" in found[0].text


# --- expiry -------------------------------------------------------------------------------------


def test_expires_and_expired(healthy: None) -> None:
    job = job_in_status("queued", type="test.queue_timeout")
    found = reason(job, "expires")
    assert not found.blocking and found.at == Job.objects.get(pk=job.pk).expires_at
    Job.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert reason(job, "expired").blocking
    assert jobs_expire_overdue(now=timezone.now()) == 1
    job.refresh_from_db()
    assert job.status == "failed"
    assert [r.code for r in reasons(job)] == ["expired"]


def test_other_jobs_have_no_reasons(healthy: None) -> None:
    for status in ("running", "completed", "failed", "cancelled"):
        assert reasons(job_in_status(status)) == [], status


def test_unknown_type(healthy: None) -> None:
    job = make_job("queued", type="gone.away")
    assert reason(job, "unknown_type").blocking


def test_redis_down_is_a_note_not_an_error(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(liveness, "live_workers", down)
    monkeypatch.setattr(limits, "rate_room", down)
    job = make_job("queued", type="test.rated", gate="test.rated", dispatched_at=None)
    notes = [r for r in reasons(job) if r.code == "unknown"]
    assert {r.blocking for r in notes} == {False} and len(notes) == 2
    assert all("could not be read from Redis (Connection refused)" in r.text for r in notes)

