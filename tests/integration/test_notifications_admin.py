"""The notifications console: channels and rules edited through forms checked like the API's
bodies, a webhook secret shown once in a message, deliveries with their attempts inline and a
resend button that goes through the services."""
from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from jobs.testing import jobs_recorded
from notifications import services
from notifications.models import Channel, Delivery, Rule
from tests.notifications_support import private_addresses_allowed  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser(username="ops", email="ops@example.com", password=None)
    client = Client()
    client.force_login(user)
    return client


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_adding_a_webhook_channel_shows_its_secret_once(client: Client) -> None:
    response = client.post(reverse("admin:notifications_channel_add"),
                           {"name": "ops hook", "kind": "webhook", "url": "https://hooks.example.com/x",
                            "email_addresses": "", "enabled": "on"}, follow=True)
    assert response.status_code == 200
    channel = Channel.objects.get()
    [shown] = [m for m in messages_of(response) if "Signing secret" in m]
    assert channel.secret in shown and channel.secret.startswith("whsec_")
    page = client.get(reverse("admin:notifications_channel_change", args=[channel.pk])).content.decode()
    assert channel.secret not in page and channel.secret[:10] + "…" in page
    listing = client.get(reverse("admin:notifications_channel_changelist")).content.decode()
    assert channel.secret not in listing
    rotated = client.post(reverse("admin:notifications_channel_changelist"),
                          {"action": "rotate_secret", "_selected_action": [channel.pk]}, follow=True)
    channel.refresh_from_db()
    assert any(channel.secret in m for m in messages_of(rotated))
    assert channel.previous_secret and channel.previous_secret not in channel.secret


def test_a_bad_channel_form_names_the_field_and_stores_nothing(client: Client) -> None:
    response = client.post(reverse("admin:notifications_channel_add"),
                           {"name": "x", "kind": "webhook", "url": "http://192.168.1.20/hook", "enabled": "on"})
    assert response.status_code == 200
    assert "192.168.1.20 is a private address" in response.content.decode()
    email = client.post(reverse("admin:notifications_channel_add"),
                        {"name": "x", "kind": "email", "email_addresses": "ops@example.com, nope", "enabled": "on"})
    assert "&#x27;nope&#x27; is not an e-mail address" in email.content.decode()
    assert not Channel.objects.exists()


def test_a_rule_is_added_through_its_form(client: Client) -> None:
    channel = services.channel_create(name="mail", kind="email", email_addresses=["ops@example.com"]).channel
    form = {"name": "backlog", "event": "queue.backlog", "queue": "default", "threshold": "50", "min_jobs": "10",
            "channels": [channel.pk], "throttle_seconds": "300", "digest_size": "10", "enabled": "on",
            "conditions-TOTAL_FORMS": "0", "conditions-INITIAL_FORMS": "0"}
    bad = client.post(reverse("admin:notifications_rule_add"), {**form, "threshold": ""})
    assert "queue.backlog needs a threshold" in bad.content.decode()
    assert not Rule.objects.exists()
    response = client.post(reverse("admin:notifications_rule_add"), form, follow=True)
    assert response.status_code == 200, response.content.decode()[:2000]
    rule = Rule.objects.get()
    assert (rule.event, rule.queue, rule.threshold, list(rule.channels.all())) == (
        "queue.backlog", "default", 50.0, [channel])


def test_a_delivery_page_shows_its_attempts_and_resends(client: Client, private_addresses_allowed: None,
                                                        django_capture_on_commit_callbacks: Any) -> None:
    channel = services.channel_create(name="dead", kind="webhook", url="http://127.0.0.1:9/nothing").channel
    rule = services.rule_create(name="r", event="job.failed", channels=[channel], throttle_seconds=0)
    with jobs_recorded(), django_capture_on_commit_callbacks(execute=True):
        [delivery] = services.event_record(rule_id=rule.pk, kind="job.failed", state="firing", key="job:1",
                                           summary="job 1 failed")
    resend = reverse("admin:notifications_delivery_resend", args=[delivery.pk])
    refused = client.post(resend, follow=True)
    assert any("is pending: it is still on its way" in m for m in messages_of(refused))
    services.delivery_attempt(delivery_id=delivery.pk, last=True)
    page = client.get(reverse("admin:notifications_delivery_change", args=[delivery.pk])).content.decode()
    assert delivery.message_id in page and "Connection refused" in page
    assert re.search(rf'formaction="{re.escape(resend)}"', page)
    before = Delivery.objects.get(pk=delivery.pk).job_id
    with jobs_recorded() as sent, django_capture_on_commit_callbacks(execute=True):
        done = client.post(resend, follow=True)
    assert any(f"resent {delivery.message_id}" in m for m in messages_of(done))
    assert [r.job_type for r in sent] == ["notifications.deliver"]
    after = Delivery.objects.get(pk=delivery.pk)
    assert after.status == "pending" and after.job_id != before
    assert client.get(resend).status_code == 405
