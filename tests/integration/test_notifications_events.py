"""Events and their throttle: a job that fails for good (through the jobs services and their
signal) becomes one event of each rule whose scope contains it; a burst under a throttle gives
one message at once and one digest when the window reopens, never one message per event."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs import services as job_services
from jobs import signals
from jobs.testing import jobs_recorded
from notifications import services
from notifications.models import Delivery, Event
from tests.factories import job_in_status, make_org, make_project
from tests.notifications_support import private_addresses_allowed  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hook"  # never reached: the deliveries' jobs are only recorded here


def channel(org: Any = None) -> Any:
    return services.channel_create(name="hook", kind="webhook", url=URL, organization=org).channel


def rule(name: str, *, event: str = "job.failed", org: Any = None, throttle: int = 0, **scope: Any) -> Any:
    return services.rule_create(name=name, event=event, organization=org, channels=[channel(org)],
                                throttle_seconds=throttle, **scope)


def failed_job(on_commit: Any, **create: Any) -> Any:
    with jobs_recorded() as sent, on_commit(execute=True):
        job = job_in_status("failed", **create)
    return job, sent


def test_a_job_failed_for_good_is_one_event_of_each_rule_whose_scope_holds_it(
        private_addresses_allowed, django_capture_on_commit_callbacks):
    org, other = make_org(), make_org()
    project = make_project(org)
    everything = rule("every failure")
    in_org = rule("org failures", org=org)
    in_project = rule("project failures", org=org, project=project)
    of_type = rule("sleep failures", job_type="demo.sleep")
    elsewhere = [rule("other org", org=other), rule("flaky only", job_type="demo.flaky"),
                 rule("attachments only", queue="attachments"), rule("lost only", event="job.lost")]
    job, sent = failed_job(django_capture_on_commit_callbacks, organization=org, project=project)
    assert sorted(Event.objects.values_list("rule__name", flat=True)) == sorted(
        r.name for r in (everything, in_org, in_project, of_type))
    event = Event.objects.get(rule=everything)
    assert (event.kind, event.state, event.key) == ("job.failed", "firing", f"job:{job.pk}")
    assert f"job {job.pk} (demo.sleep) failed for good after 1 attempt(s) [handler]: boom: the disk is full" == \
        event.summary
    assert event.details["organizationId"] == org.pk and event.details["projectId"] == project.pk
    # one delivery per matching rule, each sent by a job of its own on the notifications queue
    assert Delivery.objects.count() == 4 and not Delivery.objects.filter(rule__in=elsewhere).exists()
    deliveries = [r for r in sent if r.job_type != "demo.sleep"]  # the failed job's own publish aside
    assert [(r.job_type, r.queue) for r in deliveries] == [("notifications.deliver", "notifications")] * 4


def test_a_failed_attempt_with_attempts_left_is_no_event(private_addresses_allowed,
                                                        django_capture_on_commit_callbacks):
    rule("every failure")
    with jobs_recorded(), django_capture_on_commit_callbacks(execute=True):
        job = job_services.job_create(type="demo.flaky", input={}).job
        claimed = job_services.job_claim(job_id=job.pk, token=job.token, worker="w")
        assert job_services.job_fail(job=claimed, error="once") == "queued"
    assert not Event.objects.exists() and not Delivery.objects.exists()


def test_a_deliverys_own_failure_notifies_nobody(private_addresses_allowed, django_capture_on_commit_callbacks):
    rule("every failure")
    signals.job_failed.send_robust(sender=None, job_id="x", job_type="notifications.deliver", queue="notifications",
                                   organization_id=None, project_id=None, attempts=6, error="503", reason="handler")
    assert not Event.objects.exists()


def test_fifty_failures_in_a_minute_under_a_five_minute_throttle_give_one_message_then_one_digest(
        private_addresses_allowed, django_capture_on_commit_callbacks):
    burst = rule("burst", throttle=300, digest_size=10)
    t0 = timezone.now()
    with jobs_recorded() as sent, django_capture_on_commit_callbacks(execute=True):
        made = [services.event_record(rule_id=burst.pk, kind="job.failed", state="firing", key=f"job:{n}",
                                      summary=f"job {n} failed", now=t0 + timedelta(seconds=n * 1.2))
                for n in range(50)]
        assert [len(d) for d in made] == [1] + [0] * 49  # the first at once, the others wait
        assert services.digests_send_due(now=t0 + timedelta(seconds=299)) == 0  # the window is still closed
        assert services.digests_send_due(now=t0 + timedelta(seconds=300)) == 1
        assert services.digests_send_due(now=t0 + timedelta(seconds=900)) == 0  # nothing waits any more
    first, digest = Delivery.objects.order_by("created_at")
    assert (first.event_count, digest.event_count) == (1, 49)
    assert len(sent) == 2
    assert digest.payload["digest"] is True and digest.payload["omitted"] == 39
    assert [e["summary"] for e in digest.payload["events"]] == [f"job {n} failed" for n in range(1, 11)]
    assert digest.text.endswith("... and 39 more.")
    assert digest.subject == "[Conveyor] burst: 49 events: A job failed for good"
    assert not Event.objects.filter(sent_at__isnull=True).exists()


def test_a_shorter_throttle_applies_to_the_window_in_progress(private_addresses_allowed,
                                                             django_capture_on_commit_callbacks):
    slow = rule("slow", throttle=3600)
    t0 = timezone.now()
    with jobs_recorded(), django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            services.event_record(rule_id=slow.pk, kind="job.failed", state="firing", key=f"job:{n}",
                                  summary=f"job {n} failed", now=t0 + timedelta(seconds=n))
        assert services.digests_send_due(now=t0 + timedelta(seconds=90)) == 0
        services.rule_update(rule=slow, throttle_seconds=60)
        assert services.digests_send_due(now=t0 + timedelta(seconds=90)) == 1
    assert list(Delivery.objects.order_by("created_at").values_list("event_count", flat=True)) == [1, 2]


def test_no_throttle_sends_one_message_per_event(private_addresses_allowed, django_capture_on_commit_callbacks):
    each = rule("each", throttle=0)
    with jobs_recorded(), django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            services.event_record(rule_id=each.pk, kind="job.failed", state="firing", key=f"job:{n}",
                                  summary=f"job {n} failed")
    assert list(Delivery.objects.values_list("event_count", flat=True)) == [1, 1, 1]


def test_a_job_lost_too_often_is_one_event_at_the_threshold(private_addresses_allowed,
                                                            django_capture_on_commit_callbacks):
    lost = rule("lost twice", event="job.lost", threshold=2)
    facts = {"job_id": "j1", "job_type": "demo.sleep", "queue": "default", "organization_id": None,
             "project_id": None, "attempts": 1}
    with jobs_recorded(), django_capture_on_commit_callbacks(execute=True):
        for rescues, status in ((1, "queued"), (2, "queued"), (3, "queued"), (4, "failed")):
            signals.job_rescued.send_robust(sender=None, rescues=rescues, status=status, **facts)
    [event] = Event.objects.filter(rule=lost)
    assert event.summary == "job j1 (demo.sleep) lost its worker 2 time(s), and is now queued"
    assert lost.threshold == 2.0
