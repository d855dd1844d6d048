"""Handler policies as the services apply them (one process; real workers in
test_worker_policies.py), and the testing modes offered to applications."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.errors import JobValidationError, UnknownJobType
from jobs.models import Job
from jobs.testing import jobs_recorded, jobs_run_inline
from tests.factories import make_job, make_org, make_user, publishes

pytestmark = pytest.mark.django_db


def test_schema_refuses_a_payload_with_a_missing_field_naming_it():
    with pytest.raises(JobValidationError) as caught:
        services.job_create(type="test.schema", input={"invoice_id": 7})
    assert caught.value.field == "input.email" and "required" in str(caught.value).lower()
    with pytest.raises(JobValidationError, match="input.invoice_id"):
        services.job_create(type="test.schema", input={"invoice_id": "seven", "email": "a@b"})
    assert Job.objects.count() == 0
    assert services.job_create(type="test.schema", input={"invoice_id": 7, "email": "a@b"}).job.status == "queued"


def test_dedup_template_gives_one_queued_job_per_key():
    first = services.job_create(type="test.deduped", input={"thing": 1, "path": "x"}).job
    again = services.job_create(type="test.deduped", input={"thing": 1, "path": "y"})
    other = services.job_create(type="test.deduped", input={"thing": 2, "path": "x"}).job
    assert again.job.pk == first.pk and again.deduplicated and other.pk != first.pk
    assert first.dedup_key == "thing-1"
    with pytest.raises(JobValidationError, match="input.thing: is required to build the dedup key"):
        services.job_create(type="test.deduped", input={"path": "x"})


def test_a_running_job_does_not_block_a_new_queued_one_with_its_key():
    first = services.job_create(type="test.deduped", input={"thing": 1, "path": "x"}).job
    Job.objects.filter(pk=first.pk).update(status="running")
    second = services.job_create(type="test.deduped", input={"thing": 1, "path": "x"})
    assert second.job.pk != first.pk and not second.deduplicated


def test_debounce_pushes_the_queued_job_back_with_a_new_token(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = services.job_create(type="test.debounced", input={"item": 1, "path": "x"}).job
        row = Job.objects.get(pk=first.pk)
        again = services.job_create(type="test.debounced", input={"item": 1, "path": "x"})
    pushed = Job.objects.get(pk=first.pk)
    assert again.job.pk == first.pk and again.deduplicated
    assert pushed.run_at > row.run_at and pushed.token != row.token
    assert len(publishes(callbacks)) == 2  # one countdown message per trigger; the first becomes stale


def test_untracked_jobs_have_no_row():
    with pytest.raises(JobValidationError, match="is an untracked job"):
        services.job_create(type="test.system", input={"path": "x"})
    with pytest.raises(UnknownJobType, match="test.system"):
        services.untracked_job_send(type="demo.sleep")
    assert services.system_job_send is services.untracked_job_send  # the older name


def test_concurrency_key_is_stored_per_org():
    org = make_org()
    job = services.job_create(type="test.per_org", input={"path": "x"}, organization=org).job
    assert job.concurrency_key == f"org:{org.pk}"
    assert services.job_create(type="test.limited1", input={"path": "x"}).job.concurrency_key is None


def test_queue_timeout_fails_a_job_that_waited_too_long():
    job = services.job_create(type="test.queue_timeout", input={"path": "x"}).job
    assert job.expires_at is not None
    Job.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.job_claim(job_id=job.pk, token=job.token, worker="w") is None
    row = Job.objects.get(pk=job.pk)
    assert row.status == "failed" and row.error.startswith("queue timeout: not started by")


def test_the_sweeper_expires_overdue_queued_jobs():
    job = make_job(type="test.queue_timeout", expires_at=timezone.now() - timedelta(seconds=1))
    services.jobs_sweep()
    assert Job.objects.get(pk=job.pk).status == "failed"


def test_inline_mode_runs_the_job_when_the_transaction_commits(django_capture_on_commit_callbacks):
    with jobs_run_inline(), django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(type="demo.sleep", input={"seconds": 0, "steps": 2}, created_by=make_user()).job
        assert Job.objects.get(pk=job.pk).status == "queued"  # not before the commit
    done = Job.objects.get(pk=job.pk)
    assert (done.status, done.progress, done.result) == ("completed", 100, {"slept": 0.0, "steps": 2})


def test_inline_mode_runs_retries_at_once(django_capture_on_commit_callbacks):
    with jobs_run_inline(), django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(type="demo.flaky", input={"failures": 2}).job
    done = Job.objects.get(pk=job.pk)
    assert (done.status, done.attempts) == ("completed", 3)


def test_record_mode_publishes_nothing_and_lists_what_was_sent(django_capture_on_commit_callbacks):
    with jobs_recorded() as sent, django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(type="demo.sleep", input={"seconds": 1}, priority=2).job
    assert [(r.job_id, r.job_type, r.priority) for r in sent] == [(str(job.pk), "demo.sleep", 2)]
    assert Job.objects.get(pk=job.pk).status == "queued"


def test_the_worker_checks_the_schema_again():
    from jobs.worker.run import execute

    # a row written around the services (an old job, a hand-made fix-up) with a bad payload
    job = make_job(type="test.schema", input={"invoice_id": "not a number"})
    outcome = execute(str(job.pk), str(job.token), "w@test", heartbeat=False, apply_limits=False)
    row = Job.objects.get(pk=job.pk)
    assert outcome["outcome"] == "failed" and row.status == "failed" and row.attempts == 1
    # the one format of a schema's refusal, as job_create would have given it
    assert row.error.startswith("input does not match the schema of test.schema: input.invoice_id: ")
