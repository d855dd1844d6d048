"""Failures grouped by error: jobs that failed with the same kind of error (values aside) form
one group with its count, first and last seen and types; jobs waiting for a retry after that
error are counted apart; a group's jobs can be retried or cancelled together."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import selectors, services
from jobs.models import Job
from tests.factories import job_in_status

pytestmark = pytest.mark.django_db


def fail(job_type: str, error: str) -> Job:
    job = job_in_status("running", type=job_type)
    services.job_fail(job=Job.objects.get(pk=job.pk), error=error, retry=False)
    return Job.objects.get(pk=job.pk)


def test_failed_jobs_group_by_error_whatever_their_values_with_counts_times_and_types():
    for n in (1, 2, 3):
        fail("demo.sleep", f"ValueError: customer {n} not found")
    fail("test.flaky_fast", "ValueError: customer 99 not found")
    fail("demo.sleep", "OSError: disk full")
    groups = selectors.failure_groups()
    assert [(g.count, g.label, g.types) for g in groups] == [
        (4, "ValueError: customer <n> not found", {"demo.sleep": 3, "test.flaky_fast": 1}),
        (1, "OSError: disk full", {"demo.sleep": 1}),
    ]
    first = groups[0]
    assert first.first_seen <= first.last_seen and first.sample_error.startswith("ValueError: customer")
    assert selectors.failure_group_jobs(key=first.key).count() == 4
    assert selectors.failure_groups(since=timezone.now() + timedelta(minutes=1)) == []


def test_a_retry_waiting_after_the_error_is_counted_and_retrying_the_group_requeues_its_failed_jobs():
    failed = fail("demo.sleep", "TimeoutError: upstream took 31 s")
    waiting = job_in_status("running", type="demo.sleep")
    services.job_fail(job=Job.objects.get(pk=waiting.pk), error="TimeoutError: upstream took 45 s", retry=True)
    assert Job.objects.get(pk=waiting.pk).status == "queued"
    (group,) = selectors.failure_groups()
    assert (group.count, group.retrying) == (1, 1)
    outcome = services.jobs_retry_bulk(job_ids=list(selectors.failure_group_jobs(key=group.key)
                                                    .values_list("pk", flat=True)))
    assert outcome.changed == [failed.pk]
    assert Job.objects.get(pk=failed.pk).error_group == ""  # retried as new: no error, no group
    queued = selectors.failure_group_jobs(key=group.key, statuses=("queued",))
    assert list(queued.values_list("pk", flat=True)) == [waiting.pk]
