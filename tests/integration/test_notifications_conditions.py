"""Conditions measured by the evaluation: each fires once when it starts to hold and sends
"resolved" once when it stops, whatever the number of evaluations in between (backlog,
failure rate, a missed schedule, no consumer on a queue while no worker is alive)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.models import Job
from jobs.testing import jobs_recorded
from notifications import services
from notifications.models import Condition, Delivery, Event
from scheduler import services as schedule_services
from tests.factories import make_job, make_org, make_user
from tests.notifications_support import private_addresses_allowed  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def condition_rule(event: str, org: Any = None, **fields: Any) -> Any:
    channel = services.channel_create(name="hook", kind="webhook", url="http://127.0.0.1:9/h", organization=org)
    return services.rule_create(name=event, event=event, organization=org, channels=[channel.channel],
                                throttle_seconds=0, **fields)


def evaluate(on_commit: Any, now: Any = None) -> dict[str, int]:
    with jobs_recorded(), on_commit(execute=True):
        return services.notifications_evaluate(now=now)


def states(rule: Any) -> list[tuple[str, str]]:
    return list(Event.objects.filter(rule=rule).order_by("pk").values_list("state", "key"))


def test_a_backlog_over_its_threshold_fires_once_and_resolves_once(private_addresses_allowed,
                                                                   django_capture_on_commit_callbacks):
    rule = condition_rule("queue.backlog", queue="default", threshold=2)
    jobs = [make_job("queued", queue="default") for _ in range(3)]
    make_job("queued", queue="default", run_at=timezone.now() + timedelta(hours=1))  # not due: not counted
    assert evaluate(django_capture_on_commit_callbacks)["fired"] == 1
    assert evaluate(django_capture_on_commit_callbacks)["fired"] == 0  # still over: no second message
    assert states(rule) == [("firing", "queue:default")]
    assert Event.objects.get(rule=rule).summary == "queue default: 3 due job(s) waiting, over the threshold of 2"
    Job.objects.filter(pk=jobs[0].pk).update(status="completed")  # set-up: the backlog drains
    counts = evaluate(django_capture_on_commit_callbacks)
    assert (counts["fired"], counts["resolved"]) == (0, 1)
    assert evaluate(django_capture_on_commit_callbacks)["resolved"] == 0
    assert states(rule) == [("firing", "queue:default"), ("resolved", "queue:default")]
    assert Event.objects.filter(rule=rule).last().summary == "queue default: backlog down to 2 (threshold 2)"
    assert list(Delivery.objects.filter(rule=rule).values_list("subject", flat=True).order_by("created_at")) == [
        "[Conveyor] queue default: 3 due job(s) waiting, over the threshold of 2",
        "[Conveyor] RESOLVED: queue default: backlog down to 2 (threshold 2)"]
    Job.objects.filter(queue="default").update(status="completed")
    evaluate(django_capture_on_commit_callbacks)
    assert not Condition.objects.filter(rule=rule).exists()  # nothing holds, nothing waits: no row kept


def test_a_backlog_that_vanishes_resolves_too(private_addresses_allowed, django_capture_on_commit_callbacks):
    rule = condition_rule("queue.backlog", threshold=0)
    job = make_job("queued", queue="attachments")
    evaluate(django_capture_on_commit_callbacks)
    Job.objects.filter(pk=job.pk).update(status="completed")
    evaluate(django_capture_on_commit_callbacks)
    assert states(rule) == [("firing", "queue:attachments"), ("resolved", "queue:attachments")]
    assert Event.objects.filter(rule=rule).last().summary == \
        "queue attachments: no due job waits any more (threshold 0)"


def test_the_failure_rate_of_an_organization_over_its_threshold(private_addresses_allowed,
                                                                 django_capture_on_commit_callbacks):
    org = make_org()
    rule = condition_rule("jobs.failure_rate", org=org, threshold=50, window_seconds=600, min_jobs=4)
    for status in ("failed", "failed", "failed", "completed"):
        make_job(status, organization=org)
    make_job("failed")  # another organization's failure is not counted
    make_job("failed", organization=org, created_at=timezone.now() - timedelta(hours=1))  # outside the window
    assert evaluate(django_capture_on_commit_callbacks)["fired"] == 1
    event = Event.objects.get(rule=rule)
    assert event.summary == "75.0% of 4 finished job(s) failed in the last 600 s, over 50%"
    assert event.details["failed"] == 3 and event.details["finished"] == 4
    for _ in range(4):
        make_job("completed", organization=org)
    assert evaluate(django_capture_on_commit_callbacks)["resolved"] == 1
    assert states(rule) == [("firing", "rate"), ("resolved", "rate")]


def test_too_few_jobs_make_no_rate(private_addresses_allowed, django_capture_on_commit_callbacks):
    condition_rule("jobs.failure_rate", threshold=10, window_seconds=600, min_jobs=5)
    make_job("failed")
    assert evaluate(django_capture_on_commit_callbacks)["fired"] == 0


def test_a_missed_schedule_fires_and_resolves_once_it_fired(private_addresses_allowed,
                                                            django_capture_on_commit_callbacks):
    rule = condition_rule("schedule.missed")
    schedule = schedule_services.schedule_create(owner=make_user(), name="nightly", job_type="demo.sleep",
                                                 frequency="cron", cron="0 3 * * *")
    type(schedule).objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - timedelta(hours=1))
    assert evaluate(django_capture_on_commit_callbacks)["fired"] == 1
    assert "schedule 'nightly' missed its tick of" in Event.objects.get(rule=rule).summary
    type(schedule).objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() + timedelta(hours=1))
    assert evaluate(django_capture_on_commit_callbacks)["resolved"] == 1
    assert states(rule) == [("firing", f"schedule:{schedule.pk}"), ("resolved", f"schedule:{schedule.pk}")]


def test_a_queue_without_a_live_worker(private_addresses_allowed, django_capture_on_commit_callbacks):
    named = condition_rule("queue.no_consumer", queue="dossiers")
    waiting = condition_rule("queue.no_consumer")
    make_job("queued", queue="attachments")
    assert evaluate(django_capture_on_commit_callbacks)["fired"] == 2
    # a queue the rule names must have a consumer even when nothing waits; otherwise the queues
    # where jobs wait
    assert [e.summary for e in Event.objects.filter(rule=named)] == [
        "queue dossiers: no live worker consumes it (0 due job(s) waiting)"]
    assert [e.summary for e in Event.objects.filter(rule=waiting)] == [
        "queue attachments: no live worker consumes it (1 due job(s) waiting)"]


def test_old_history_is_pruned(private_addresses_allowed, django_capture_on_commit_callbacks, settings):
    settings.NOTIFICATIONS_KEEP_DAYS = 30
    rule = condition_rule("job.failed")
    old = timezone.now() - timedelta(days=31)
    with jobs_recorded(), django_capture_on_commit_callbacks(execute=True):
        services.event_record(rule_id=rule.pk, kind="job.failed", state="firing", key="job:old", summary="old",
                              now=old)
        services.event_record(rule_id=rule.pk, kind="job.failed", state="firing", key="job:new", summary="new")
    Delivery.objects.filter(text__contains="old").update(created_at=old)
    assert services.history_prune() == 2
    assert list(Event.objects.values_list("key", flat=True)) == ["job:new"]
    assert Delivery.objects.count() == 1
