"""Failure notifications end to end: jobs that fail for good on a real worker, the deliveries
sent by `notifications.deliver` jobs on the `notifications` queue of a real worker, to an HTTP
receiver and an SMTP server that this test process runs on 127.0.0.1; the evaluation fired by
a real beat. The receivers listen on a loopback address, so the workers allow private
addresses, except in the test that proves the refusal."""
from __future__ import annotations

import json
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from jobs import services as job_services
from jobs.models import Job
from notifications import services
from notifications.models import Delivery, DeliveryAttempt, Event
from tests.notifications_support import (
    hand_signature,
    private_addresses_allowed,  # noqa: F401 (a fixture)
    receiver,  # noqa: F401 (a fixture)
    signatures,
    smtp_sink,  # noqa: F401 (a fixture)
    webhook_rule,
)
from tests.processes import wait_for

pytestmark = [pytest.mark.workers, pytest.mark.slow]

QUEUES = "default,system,notifications"
# receivers on 127.0.0.1; retries 0.2 s, 0.6 s, 1.8 s... apart; the evaluation every second
WORKER_ENV = {"NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES": "1", "NOTIFICATIONS_RETRY_BACKOFF": "0.2",
              "NOTIFICATIONS_EVALUATION_INTERVAL": "1"}


@pytest.fixture(autouse=True)
def _empty_notifications_queue(broker: str) -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("notifications")


def fail_for_good(count: int = 1) -> list[Job]:
    """Jobs that fail at their first attempt, with no retry."""
    return [job_services.job_create(type="demo.flaky", input={"permanent": True}).job for _ in range(count)]


def settled(jobs: list[Job]) -> None:
    """Every job failed, and every delivery job made so far has ended."""
    ids = [job.pk for job in jobs]
    wait_for(lambda: Job.objects.filter(pk__in=ids, status="failed").count() == len(ids), timeout=180,
             message=f"{len(ids)} job(s) to fail")
    wait_for(lambda: not Job.objects.filter(type="notifications.deliver", status__in=("queued", "running")).exists(),
             timeout=120, message="every delivery job to end")


def test_a_job_failed_for_good_gives_exactly_one_signed_webhook(processes: Any, receiver: Any,
                                                                private_addresses_allowed: None) -> None:
    rule, secret = webhook_rule(receiver.url, throttle=0)  # no throttle to hide a second message
    processes.worker(queues=QUEUES, env=WORKER_ENV)
    [job] = fail_for_good()
    receiver.wait_for_count(1)
    settled([job])
    [request] = receiver.received()
    assert request.answered == 200
    payload = Webhook(secret).verify(request.body, request.headers)
    assert signatures(request) == [hand_signature(secret, request.headers["webhook-id"],
                                                  request.headers["webhook-timestamp"], request.body)]
    [event] = payload["data"]["events"]
    assert payload["type"] == "job.failed" and event["details"]["jobId"] == str(job.pk)
    assert event["summary"].startswith(f"job {job.pk} (demo.flaky) failed for good after 1 attempt(s)")
    tampered = json.dumps({**json.loads(request.body), "type": "job.completed"}).encode()
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, request.headers)
    [delivery] = Delivery.objects.all()
    assert delivery.status == "sent" and request.headers["webhook-id"] == delivery.message_id
    # the delivery was a job of its own, on its own queue: not the failed job's work
    deliver_job = delivery.job
    assert deliver_job is not None
    assert (deliver_job.type, deliver_job.queue, deliver_job.status) == (
        "notifications.deliver", "notifications", "completed")
    assert Event.objects.filter(rule=rule).count() == 1


def test_a_receiver_answering_500_three_times_gets_three_stored_attempts_then_a_success(
        processes: Any, receiver: Any, private_addresses_allowed: None) -> None:
    receiver.answer(500, 500, 500)
    _, secret = webhook_rule(receiver.url)
    processes.worker(queues=QUEUES, env=WORKER_ENV)
    jobs = fail_for_good()
    receiver.wait_for_count(4)
    settled(jobs)
    requests = receiver.received()
    assert [r.answered for r in requests] == [500, 500, 500, 200]
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    for request in requests:
        Webhook(secret).verify(request.body, request.headers)
    [delivery] = Delivery.objects.all()
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.outcome, a.status_code) for a in attempts] == [
        (1, "failed", 500), (2, "failed", 500), (3, "failed", 500), (4, "sent", 200)]
    assert all(a.latency_ms > 0 for a in attempts)
    assert (delivery.status, delivery.attempt_count) == ("sent", 4)
    assert delivery.job is not None and delivery.job.attempts == 4


def test_fifty_failures_under_a_five_minute_throttle_give_one_message_and_one_digest(
        processes: Any, receiver: Any, private_addresses_allowed: None) -> None:
    rule, secret = webhook_rule(receiver.url, throttle=300, digest_size=10)
    processes.worker(queues=QUEUES, env=WORKER_ENV, concurrency=2)
    processes.beat(env=WORKER_ENV)  # the evaluation, every second: it sends a digest once the window reopens
    jobs = fail_for_good(50)
    settled(jobs)
    wait_for(lambda: Event.objects.filter(rule=rule).count() == 50, timeout=60, message="50 events")
    # every failure is an event; one message went out at once, the 49 others wait for the window
    assert len(receiver.received()) == 1
    assert Event.objects.filter(rule=rule, sent_at__isnull=True).count() == 49
    wait_for(lambda: "notifications:evaluate" in "".join(p.log() for p in processes.processes), timeout=60,
             message="the evaluation to run")
    assert len(receiver.received()) == 1  # evaluations inside the window send nothing
    services.rule_update(rule=rule, throttle_seconds=1)  # the window reopens
    requests = receiver.wait_for_count(2)
    settled(jobs)
    first, digest = (Webhook(secret).verify(r.body, r.headers)["data"] for r in requests)
    assert (first["eventCount"], first["digest"]) == (1, False)
    assert (digest["eventCount"], digest["digest"], digest["omitted"], len(digest["events"])) == (49, True, 39, 10)
    assert len(receiver.received()) == 2 and not Event.objects.filter(sent_at__isnull=True).exists()


def test_an_email_reaches_the_local_smtp_server(processes: Any, smtp_sink: Any) -> None:
    channel = services.channel_create(name="on call", kind="email", email_addresses=["ops@example.com"]).channel
    services.rule_create(name="failures by mail", event="job.failed", channels=[channel])
    processes.worker(queues=QUEUES, env={**WORKER_ENV, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_sink.port)})
    [job] = fail_for_good()
    wait_for(lambda: smtp_sink.messages, timeout=120, message="an e-mail at the SMTP server")
    settled([job])
    [message] = smtp_sink.messages
    assert smtp_sink.envelopes == [("conveyor@localhost", ["ops@example.com"])]
    assert message["Subject"].startswith(f"[Conveyor] job {job.pk} (demo.flaky) failed for good")
    assert Delivery.objects.get().status == "sent"


def test_a_webhook_to_a_private_address_is_refused_when_the_setting_is_off(
        processes: Any, receiver: Any, private_addresses_allowed: None) -> None:
    webhook_rule(receiver.url)  # made while this process allows it; the worker does not
    processes.worker(queues=QUEUES, env={**WORKER_ENV, "NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES": "0"})
    jobs = fail_for_good()
    wait_for(lambda: Delivery.objects.filter(status="refused").exists(), timeout=120, message="a refused delivery")
    settled(jobs)
    assert receiver.received() == []
    [attempt] = DeliveryAttempt.objects.all()
    assert attempt.outcome == "refused"
    assert "127.0.0.1, a loopback address" in attempt.error and "NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES" in attempt.error


def test_a_queue_without_a_consumer_fires_then_resolves_when_a_worker_consumes_it(
        processes: Any, receiver: Any, private_addresses_allowed: None) -> None:
    rule, secret = webhook_rule(receiver.url, event="queue.no_consumer", queue="attachments")
    processes.worker(queues=QUEUES, env=WORKER_ENV)
    processes.beat(env=WORKER_ENV)
    fired = receiver.wait_for_count(1, timeout=120)
    assert Webhook(secret).verify(fired[0].body, fired[0].headers)["data"]["events"][0]["state"] == "firing"
    processes.worker(queues="attachments", env=WORKER_ENV)
    resolved = receiver.wait_for_count(2, timeout=120)
    event = Webhook(secret).verify(resolved[1].body, resolved[1].headers)["data"]["events"][0]
    assert event["state"] == "resolved" and event["summary"] == "queue attachments: consumed again by 1 live worker(s)"
    assert list(Event.objects.filter(rule=rule).values_list("state", flat=True)) == ["firing", "resolved"]
