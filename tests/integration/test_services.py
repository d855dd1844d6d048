"""jobs.services against a real database: validation, claim, outcomes, cancel, retry,
rescue and sweep. Behaviour across real worker processes is in test_worker_*.py."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from handlers.registry import Backoff, get_handler
from jobs import services
from jobs.errors import InvalidJobTransition, JobNotFound, JobValidationError, PayloadTooLarge, UnknownJobType
from jobs.models import Job, JobAttempt
from tests.factories import make_job, make_org, make_project, make_user, publishes

pytestmark = pytest.mark.django_db


def claim(job: Job) -> Job:
    claimed = services.job_claim(job_id=job.pk, token=job.token, worker="w1@test")
    assert claimed is not None
    return claimed


# --- create ------------------------------------------------------------------------------


def test_create_stores_a_queued_job_and_publishes_after_commit(django_capture_on_commit_callbacks):
    user = make_user()
    project = make_project(make_org())
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.job_create(
            type="demo.sleep", input={"seconds": 1}, created_by=user, project=project, priority=2
        ).job
    assert len(publishes(callbacks)) == 1
    job.refresh_from_db()
    assert (job.status, job.progress, job.priority, job.attempts, job.max_attempts) == ("queued", 0, 2, 0, 3)
    assert job.organization_id == project.organization_id
    assert job.queued_at and job.dispatched_at and job.created_by == user


@pytest.mark.parametrize("kwargs,field,text", [
    ({"type": "no.such.type"}, "type", "unknown job type 'no.such.type'"),
    ({"type": "demo.sleep", "input": [1, 2]}, "input", "must be a JSON object"),
    ({"type": "demo.sleep", "input": {"x": {1, 2}}}, "input", "not JSON-serializable"),
    ({"type": "demo.sleep", "input": {"x": float("nan")}}, "input", "not JSON-serializable"),
    ({"type": "demo.sleep", "priority": 0}, "priority", "from 1 (most urgent) to 10"),
    ({"type": "demo.sleep", "priority": 11}, "priority", "from 1 (most urgent) to 10"),
    ({"type": "demo.sleep", "delay": -1}, "delay", ">= 0"),
    ({"type": "demo.sleep", "delay": 5, "run_at": timezone.now()}, "runAt", "not both"),
    ({"type": "demo.sleep", "dedup_key": ""}, "dedupKey", "1 to 255"),
])
def test_bad_input_is_refused_with_the_field_named_and_nothing_created(kwargs, field, text):
    with pytest.raises(JobValidationError) as caught:
        services.job_create(**kwargs)
    assert caught.value.field == field
    assert text in str(caught.value)
    assert Job.objects.count() == 0


def test_unknown_type_lists_the_registered_ones():
    with pytest.raises(UnknownJobType, match="demo.flaky, demo.sleep"):
        services.job_create(type="nope")


def test_payload_size_limit_is_exact():
    # {"d":"..."} is 8 bytes of framing around the string
    limit = settings.JOBS_MAX_PAYLOAD_BYTES
    services.job_create(type="demo.sleep", input={"d": "x" * (limit - 8)})
    with pytest.raises(PayloadTooLarge, match=f"{limit + 1} bytes, over the limit of {limit} bytes"):
        services.job_create(type="demo.sleep", input={"d": "x" * (limit - 7)})
    assert Job.objects.count() == 1


def test_project_of_another_organization_is_refused():
    with pytest.raises(JobValidationError, match="projectId"):
        services.job_create(type="demo.sleep", organization=make_org(), project=make_project(make_org()))


def test_dedup_key_returns_the_queued_job():
    first = services.job_create(type="demo.sleep", dedup_key="attachment-42")
    again = services.job_create(type="demo.sleep", dedup_key="attachment-42", input={"other": 1})
    assert (first.deduplicated, again.deduplicated) == (False, True)
    assert again.job.pk == first.job.pk and Job.objects.count() == 1
    Job.objects.filter(pk=first.job.pk).update(status="completed")
    third = services.job_create(type="demo.sleep", dedup_key="attachment-42")
    assert third.job.pk != first.job.pk and not third.deduplicated


def test_long_delays_are_held_in_the_database(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        short = services.job_create(type="demo.sleep", delay=10).job
        long = services.job_create(type="demo.sleep", delay=settings.JOBS_BROKER_COUNTDOWN_MAX + 60).job
    assert len(publishes(callbacks)) == 1  # only the short delay goes to the broker, as a countdown
    assert Job.objects.get(pk=short.pk).dispatched_at is not None
    assert Job.objects.get(pk=long.pk).dispatched_at is None


# --- retry policy --------------------------------------------------------------------------


def test_default_backoff_is_5_25_125_seconds():
    policy = Backoff().resolved()
    assert [policy.delay(n) for n in (1, 2, 3)] == [5.0, 25.0, 125.0]
    assert get_handler("demo.flaky").max_attempts == 3
    assert get_handler("demo.flaky").backoff.delay(1) == 5.0


def test_jitter_stays_between_half_and_the_full_delay():
    policy = Backoff(base=10, factor=2, jitter=True)
    delays = [policy.delay(2) for _ in range(200)]
    assert all(10 <= d <= 20 for d in delays) and len(set(delays)) > 1


def test_backoff_is_capped():
    assert Backoff(base=5, factor=5, max=60).delay(10) == 60


# --- claim and outcomes --------------------------------------------------------------------


def test_claim_needs_the_token_and_a_queued_job():
    job = make_job()
    assert services.job_claim(job_id=job.pk, token=uuid.uuid4(), worker="w") is None
    claimed = claim(job)
    assert (claimed.status, claimed.attempts) == ("running", 1)
    assert services.job_claim(job_id=job.pk, token=job.token, worker="w") is None
    attempt = JobAttempt.objects.get(job=job)
    assert (attempt.number, attempt.worker, attempt.outcome) == (1, "w1@test", "running")
    assert services.job_claim(job_id="not-a-uuid", token=job.token, worker="w") is None


def test_complete_stores_result_progress_and_durations():
    job = claim(make_job())
    services.job_complete(job=job, result={"rows": 3})
    job.refresh_from_db()
    assert (job.status, job.progress, job.result) == ("completed", 100, {"rows": 3})
    assert job.completed_at >= job.started_at and job.actual_duration >= 0
    assert JobAttempt.objects.get(job=job).outcome == "completed"


def test_a_result_that_is_not_json_fails_the_job():
    job = claim(make_job())
    services.job_complete(job=job, result={1, 2})
    job.refresh_from_db()
    assert job.status == "failed" and "not JSON-serializable" in job.error


@pytest.mark.parametrize("result, says", [
    ({"note": "a\x00b"}, "result.note must not contain the NUL character"),
    (["\ud800"], "result[0] must not contain the lone surrogate U+D800"),
])
def test_a_result_the_database_cannot_store_fails_the_job_saying_where(result, says):
    job = claim(make_job())
    services.job_complete(job=job, result=result)
    job.refresh_from_db()
    assert job.status == "failed" and says in job.error and job.result is None


def test_a_result_nested_too_deep_fails_the_job() -> None:
    deep: list = []
    for _ in range(2000):
        deep = [deep]
    job = claim(make_job())
    services.job_complete(job=job, result=deep)
    job.refresh_from_db()
    assert job.status == "failed" and "nested more than" in job.error


def test_failure_with_attempts_left_requeues_with_backoff_and_a_new_token(django_capture_on_commit_callbacks):
    job = claim(make_job(type="demo.flaky"))
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.job_fail(job=job, error="boom", traceback="tb") == "queued"
    assert len(publishes(callbacks)) == 1
    row = Job.objects.get(pk=job.pk)
    assert row.status == "queued" and row.token != job.token and row.error == "boom"
    assert abs((row.run_at - timezone.now()).total_seconds() - 5) < 2
    attempt = JobAttempt.objects.get(job=job)
    assert (attempt.outcome, attempt.error, attempt.error_traceback) == ("failed", "boom", "tb")
    assert attempt.finished_at is not None


def test_the_last_failure_fails_the_job_and_keeps_every_error():
    job = make_job(type="demo.flaky", attempts=0, max_attempts=3)
    for n in range(1, 4):
        current = claim(Job.objects.get(pk=job.pk))
        status = services.job_fail(job=current, error=f"error {n}")
        assert status == ("failed" if n == 3 else "queued")
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.attempts, row.error) == ("failed", 3, "error 3")
    assert list(JobAttempt.objects.filter(job=job).values_list("number", "outcome", "error")) == [
        (1, "failed", "error 1"), (2, "failed", "error 2"), (3, "failed_final", "error 3"),
    ]


def test_permanent_failure_does_not_retry():
    job = claim(make_job())
    assert services.job_fail(job=job, error="bad file", retry=False) == "failed"
    assert Job.objects.get(pk=job.pk).attempts == 1


def test_a_stale_execution_cannot_write():
    job = claim(make_job())
    Job.objects.filter(pk=job.pk).update(token=uuid.uuid4())  # rescued meanwhile
    with pytest.raises(InvalidJobTransition, match="no longer owns"):
        services.job_complete(job=job, result={})
    assert services.job_heartbeat(job=job, progress=50).owned is False
    assert Job.objects.get(pk=job.pk).progress == 0


def test_progress_is_stored_and_checked():
    job = claim(make_job())
    assert services.job_heartbeat(job=job, progress=40, message="half").owned
    row = Job.objects.get(pk=job.pk)
    assert (row.progress, row.progress_message) == (40, "half")
    with pytest.raises(JobValidationError, match="progress"):
        services.job_heartbeat(job=job, progress=101)


# --- cancel and retry -------------------------------------------------------------------------


def test_cancel_queued_job_ends_it_at_once():
    job = services.job_cancel(job_id=make_job().pk)
    assert job.status == "cancelled" and job.completed_at is not None


def test_cancel_running_job_asks_it_to_stop():
    job = claim(make_job())
    assert services.job_cancel(job_id=job.pk).status == "running"
    live = services.job_heartbeat(job=job, progress=10)
    assert live.owned and live.cancel_requested
    assert services.job_cancel_requested(job=job)
    services.job_acknowledge_cancel(job=job)
    row = Job.objects.get(pk=job.pk)
    assert row.status == "cancelled" and JobAttempt.objects.get(job=job).outcome == "cancelled"


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_cancel_of_a_final_job_is_refused_and_changes_nothing(status):
    job = make_job(status=status)
    before = Job.objects.filter(pk=job.pk).values().get()
    with pytest.raises(InvalidJobTransition, match=f"is {status} and cannot become cancelled"):
        services.job_cancel(job_id=job.pk)
    assert Job.objects.filter(pk=job.pk).values().get() == before


def test_retry_resets_progress_error_result_and_times_and_grants_more_attempts(django_capture_on_commit_callbacks):
    job = make_job(status="failed", progress=60, error="boom", result={"x": 1}, attempts=3, max_attempts=3)
    with django_capture_on_commit_callbacks() as callbacks:
        retried = services.job_retry(job_id=job.pk)
    assert len(publishes(callbacks)) == 1
    assert (retried.status, retried.progress, retried.error, retried.result) == ("queued", 0, "", None)
    assert retried.started_at is None and retried.completed_at is None
    assert retried.token != job.token and retried.max_attempts == 6


@pytest.mark.parametrize("status", ["queued", "running", "completed"])
def test_retry_of_an_active_or_completed_job_is_refused(status):
    job = make_job(status=status)
    before = Job.objects.filter(pk=job.pk).values().get()
    with pytest.raises(InvalidJobTransition, match=f"is {status} and cannot become queued"):
        services.job_retry(job_id=job.pk)
    assert Job.objects.filter(pk=job.pk).values().get() == before


def test_unknown_job_id():
    with pytest.raises(JobNotFound):
        services.job_cancel(job_id=uuid.uuid4())
    with pytest.raises(JobNotFound):
        services.job_retry(job_id=uuid.uuid4())


# --- recovery --------------------------------------------------------------------------------


def _stale(job: Job) -> None:
    long_ago = timezone.now() - timedelta(seconds=settings.JOBS_HEARTBEAT_TIMEOUT + 5)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=long_ago)


def test_rescuer_requeues_a_job_whose_worker_died(django_capture_on_commit_callbacks):
    job = claim(make_job())
    fresh = claim(make_job())
    _stale(job)
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.jobs_rescue_stale() == 1
    assert len(publishes(callbacks)) == 1
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.rescues) == ("queued", 1) and row.token != job.token
    assert JobAttempt.objects.get(job=job).outcome == "lost"
    assert Job.objects.get(pk=fresh.pk).status == "running"


def test_rescuer_cancels_a_lost_job_whose_cancel_was_asked():
    job = claim(make_job())
    services.job_cancel(job_id=job.pk)
    _stale(job)
    services.jobs_rescue_stale()
    assert Job.objects.get(pk=job.pk).status == "cancelled"


def test_rescuer_fails_a_poison_pill():
    job = claim(make_job(rescues=settings.JOBS_MAX_RESCUES))
    _stale(job)
    services.jobs_rescue_stale()
    row = Job.objects.get(pk=job.pk)
    assert row.status == "failed" and "poison pill" in row.error


def test_sweeper_publishes_held_jobs_once_due(django_capture_on_commit_callbacks):
    due = make_job(dispatched_at=None, run_at=timezone.now() - timedelta(seconds=1))
    later = make_job(dispatched_at=None, run_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.jobs_sweep() == 1
    assert len(publishes(callbacks)) == 1
    assert Job.objects.get(pk=due.pk).dispatched_at is not None
    assert Job.objects.get(pk=due.pk).token != due.token
    assert Job.objects.get(pk=later.pk).dispatched_at is None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_claims_exactly_one_wins() -> None:
    def contend(job: Job, barrier: threading.Barrier, results: list[object]) -> None:
        try:
            barrier.wait()
            results.append(services.job_claim(job_id=job.pk, token=job.token, worker=threading.current_thread().name))
        finally:
            connection.close()

    for _ in range(5):
        job = make_job()
        barrier = threading.Barrier(2)
        results: list[object] = []
        threads = [threading.Thread(target=contend, args=(job, barrier, results)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(r is not None for r in results) == 1
        assert JobAttempt.objects.filter(job=job).count() == 1


def test_job_json_round_trip_keeps_unicode():
    job = services.job_create(type="demo.sleep", input={"name": "Café ☕"}).job
    assert Job.objects.get(pk=job.pk).input == json.loads(json.dumps({"name": "Café ☕"}))


@pytest.mark.parametrize("delay", [float("nan"), float("inf")])
def test_a_delay_that_is_not_finite_is_refused(delay):
    with pytest.raises(JobValidationError, match="finite number of seconds"):
        services.job_create(type="demo.sleep", delay=delay)
    assert Job.objects.count() == 0


def test_a_malformed_job_id_is_a_validation_error_naming_it():
    with pytest.raises(JobValidationError, match="'nope' is not a valid job id"):
        services.job_cancel(job_id="nope")
    with pytest.raises(JobValidationError, match="'nope' is not a valid job id"):
        services.job_retry(job_id="nope")


def test_bulk_create_is_all_or_nothing_and_names_the_bad_item(django_capture_on_commit_callbacks):
    with pytest.raises(JobValidationError, match=r"inputs\[2\]\.input: must be a JSON object"):
        services.jobs_create_bulk(type="demo.sleep", inputs=[{}, {"seconds": 1}, "nope"])
    assert Job.objects.count() == 0
    with django_capture_on_commit_callbacks() as callbacks:
        jobs = services.jobs_create_bulk(type="demo.sleep", inputs=[{"seconds": n} for n in range(25)], priority=3)
    assert len(publishes(callbacks)) == 1  # one publish step for the whole batch
    assert Job.objects.filter(status="queued", priority=3).count() == 25 == len(jobs)
    with pytest.raises(JobValidationError, match="create them one by one"):
        services.jobs_create_bulk(type="test.deduped", inputs=[{"thing": 1, "path": "x"}])
