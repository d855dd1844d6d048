"""Deliveries against real receivers in the test process (an HTTP server and an SMTP server on
127.0.0.1), each run by the `notifications.deliver` job inline: the Standard Webhooks headers
verify with the secret and fail for a tampered body, retries keep one message id and store
every attempt, Slack-compatible and e-mail channels get their payloads, and the address guard
refuses a private address unless the setting allows it."""
from __future__ import annotations

import json
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from jobs.models import Job
from jobs.testing import jobs_recorded, jobs_run_inline
from notifications import services
from notifications.models import Delivery, DeliveryAttempt
from telemetry import recorder
from tests.notifications_support import (
    hand_signature,
    private_addresses_allowed,  # noqa: F401 (a fixture)
    receiver,  # noqa: F401 (a fixture)
    signatures,
    smtp_sink,  # noqa: F401 (a fixture)
    webhook_rule,
)

pytestmark = pytest.mark.django_db


def fire(rule: Any, on_commit: Any, summary: str = "job 1 (demo.flaky) failed for good") -> list[Delivery]:
    """One event of the rule, its deliveries run inline when the transaction commits."""
    with jobs_run_inline(), on_commit(execute=True):
        deliveries = services.event_record(rule_id=rule.pk, kind=rule.event, state="firing", key="job:1",
                                           summary=summary, details={"jobId": "1"})
    return [Delivery.objects.get(pk=d.pk) for d in deliveries]


def outcomes(delivery: Delivery) -> list[tuple[int, str, int | None]]:
    return list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number")
                .values_list("number", "outcome", "status_code"))


def test_a_webhook_is_signed_as_standard_webhooks_says(receiver, private_addresses_allowed,
                                                       django_capture_on_commit_callbacks):
    rule, secret = webhook_rule(receiver.url)
    [delivery] = fire(rule, django_capture_on_commit_callbacks)
    [request] = receiver.received()
    assert delivery.status == "sent" and request.answered == 200
    headers = request.headers
    assert headers["webhook-id"] == delivery.message_id == f"msg_{delivery.pk.hex}"
    assert headers["content-type"] == "application/json"
    # the reference implementation accepts it, and so does the signature computed by hand
    payload = Webhook(secret).verify(request.body, headers)
    assert signatures(request) == [hand_signature(secret, headers["webhook-id"], headers["webhook-timestamp"],
                                                  request.body)]
    assert payload["type"] == "job.failed"
    assert payload["data"]["events"][0]["summary"] == "job 1 (demo.flaky) failed for good"
    assert payload["data"]["eventCount"] == 1 and payload["data"]["rule"]["id"] == rule.pk
    # a body changed by one byte, or a signature made with another secret, is refused
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body.replace(b"failed", b"fa1led"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(services.channel_create(name="other", kind="webhook", url=receiver.url).secret).verify(
            request.body, headers)
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert (attempt.number, attempt.outcome, attempt.status_code) == (1, "sent", 200)
    assert attempt.latency_ms > 0


def test_500_three_times_gives_three_failed_attempts_then_one_success_with_one_message_id(
        receiver, private_addresses_allowed, django_capture_on_commit_callbacks):
    recorder.flush()
    before = recorder.read()
    receiver.answer(500, 500, 500)
    rule, secret = webhook_rule(receiver.url)
    [delivery] = fire(rule, django_capture_on_commit_callbacks)
    requests = receiver.received()
    assert [r.answered for r in requests] == [500, 500, 500, 200]
    assert outcomes(delivery) == [(1, "failed", 500), (2, "failed", 500), (3, "failed", 500), (4, "sent", 200)]
    assert delivery.status == "sent" and delivery.attempt_count == 4 and delivery.last_status_code == 200
    assert {r.headers["webhook-id"] for r in requests} == {delivery.message_id}
    assert len({r.body for r in requests}) == 1  # every retry sends the same bytes
    for request in requests:
        Webhook(secret).verify(request.body, request.headers)
    assert "answered 500: receiver says no" in DeliveryAttempt.objects.get(delivery=delivery, number=1).error
    # the delivery's job made the four attempts and completed
    job = Job.objects.get(pk=delivery.job_id)
    assert (job.type, job.queue, job.status, job.attempts) == ("notifications.deliver", "notifications", "completed", 4)
    recorder.flush()
    after = recorder.read()
    counted = {outcome: after.get(("conveyor_notification_deliveries_total", (outcome,), ""), 0)
               - before.get(("conveyor_notification_deliveries_total", (outcome,), ""), 0)
               for outcome in ("sent", "failed", "refused")}
    assert counted == {"sent": 1, "failed": 3, "refused": 0}


def test_an_answer_retrying_cannot_change_ends_the_delivery_at_once(receiver, private_addresses_allowed,
                                                                    django_capture_on_commit_callbacks):
    receiver.answer(410)
    rule, _ = webhook_rule(receiver.url)
    [delivery] = fire(rule, django_capture_on_commit_callbacks)
    assert len(receiver.received()) == 1
    assert delivery.status == "failed" and outcomes(delivery) == [(1, "failed", 410)]
    assert Job.objects.get(pk=delivery.job_id).status == "failed"


def test_a_failure_worth_retrying_is_final_on_the_last_attempt(receiver, private_addresses_allowed,
                                                               django_capture_on_commit_callbacks):
    receiver.answer(503, 503)
    rule, _ = webhook_rule(receiver.url)
    with jobs_recorded() as sent, django_capture_on_commit_callbacks(execute=True):
        [delivery] = services.event_record(rule_id=rule.pk, kind=rule.event, state="firing", key="job:1",
                                           summary="job 1 failed")
    assert [r.job_type for r in sent] == ["notifications.deliver"]  # nothing ran: the job was only sent
    first = services.delivery_attempt(delivery_id=delivery.pk, last=False)
    assert (first.outcome, first.retry, Delivery.objects.get(pk=delivery.pk).status) == ("failed", True, "retrying")
    last = services.delivery_attempt(delivery_id=delivery.pk, last=True)
    assert (last.outcome, last.retry, Delivery.objects.get(pk=delivery.pk).status) == ("failed", True, "failed")
    assert outcomes(delivery) == [(1, "failed", 503), (2, "failed", 503)]


def test_a_webhook_to_a_private_address_is_refused_while_the_setting_is_off(
        receiver, settings, django_capture_on_commit_callbacks):
    settings.NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES = True
    rule, _ = webhook_rule(receiver.url.replace("127.0.0.1", "localhost"))
    settings.NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES = False
    [delivery] = fire(rule, django_capture_on_commit_callbacks)
    assert receiver.received() == []  # nothing reached the receiver
    assert delivery.status == "refused"
    [attempt] = DeliveryAttempt.objects.filter(delivery=delivery)
    assert attempt.outcome == "refused" and attempt.status_code is None
    assert "localhost resolves to 127.0.0.1, a loopback address" in attempt.error
    assert "NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES" in attempt.error
    assert Job.objects.get(pk=delivery.job_id).status == "failed"  # refused once, never retried


def test_during_a_rotation_both_secrets_sign(receiver, private_addresses_allowed, django_capture_on_commit_callbacks):
    rule, old_secret = webhook_rule(receiver.url)
    channel = rule.channels.get()
    new_secret = services.channel_rotate_secret(channel=channel).secret
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    fire(rule, django_capture_on_commit_callbacks)
    [request] = receiver.received()
    assert len(signatures(request)) == 2
    Webhook(new_secret).verify(request.body, request.headers)
    Webhook(old_secret).verify(request.body, request.headers)
    assert sorted(signatures(request)) == sorted(
        hand_signature(secret, request.headers["webhook-id"], request.headers["webhook-timestamp"], request.body)
        for secret in (old_secret, new_secret))


def test_a_slack_compatible_channel_gets_its_text_payload(receiver, private_addresses_allowed,
                                                          django_capture_on_commit_callbacks):
    channel = services.channel_create(name="ops chat", kind="slack", url=receiver.url).channel
    assert channel.secret == ""
    rule = services.rule_create(name="failures to chat", event="job.failed", channels=[channel], throttle_seconds=0)
    fire(rule, django_capture_on_commit_callbacks, summary="job 1 <demo.flaky> failed & stopped")
    [request] = receiver.received()
    assert "webhook-signature" not in request.headers
    body = json.loads(request.body)
    assert list(body) == ["text"]
    assert "job 1 &lt;demo.flaky&gt; failed &amp; stopped" in body["text"]


def test_an_email_reaches_the_smtp_server(smtp_sink, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_sink.port
    channel = services.channel_create(name="on call", kind="email",
                                      email_addresses=["ops@example.com", "lead@example.com"]).channel
    rule = services.rule_create(name="failures by mail", event="job.failed", channels=[channel], throttle_seconds=0)
    [delivery] = fire(rule, django_capture_on_commit_callbacks)
    assert delivery.status == "sent"
    [message] = smtp_sink.messages
    assert smtp_sink.envelopes[0][1] == ["ops@example.com", "lead@example.com"]
    assert message["Subject"] == "[Conveyor] job 1 (demo.flaky) failed for good"
    assert message["X-Conveyor-Delivery"] == delivery.message_id
    assert "job 1 (demo.flaky) failed for good" in message.get_payload()


def test_a_disabled_channel_sends_nothing(receiver, private_addresses_allowed, django_capture_on_commit_callbacks):
    rule, _ = webhook_rule(receiver.url)
    channel = rule.channels.get()
    services.channel_update(channel=channel, enabled=False)
    assert fire(rule, django_capture_on_commit_callbacks) == []  # a rule sends to its enabled channels only
    assert receiver.received() == []
