"""The notifications API: channels and rules within the caller's organizations (staff: all), in
the jobs API's error format; a webhook secret shown once; deliveries listed and sent again."""
from __future__ import annotations

from typing import Any

import pytest

from jobs.testing import jobs_recorded
from notifications import services
from notifications.models import Channel, Delivery, Rule
from tests.api_support import Cast, cast, make_person  # noqa: F401 (cast is a fixture)
from tests.notifications_support import private_addresses_allowed  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

CHANNELS = "/api/notifications/channels"
RULES = "/api/notifications/rules"
HOOK = "https://hooks.example.com/conveyor"


def webhook(cast: Cast, who: str = "admin", **body: Any) -> Any:
    return cast.client(who).post(CHANNELS, {"name": "ops hook", "kind": "webhook", "url": HOOK,
                                            "organizationId": cast.org.pk, **body}, format="json")


def test_a_webhook_channel_shows_its_secret_once(cast: Cast) -> None:
    made = webhook(cast)
    assert made.status_code == 201, made.json()
    body = made.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert body["secretHint"] == secret[:10] + "…"
    again = cast.client("admin").get(f"{CHANNELS}/{body['id']}").json()
    assert "secret" not in again and again["secretHint"] == body["secretHint"]
    listed = cast.client("member").get(CHANNELS).json()
    assert [c["id"] for c in listed["channels"]] == [body["id"]] and "secret" not in listed["channels"][0]
    assert secret not in str(listed)
    rotated = cast.client("admin").post(f"{CHANNELS}/{body['id']}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (secret, None) and rotated.json()["previousSecretUntil"] is not None
    assert Channel.objects.get(pk=body["id"]).previous_secret == secret


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"kind": "webhook", "url": "ftp://example.com/x"}, "url", "must start with http:// or https://"),
    ({"kind": "webhook", "url": "http://10.0.0.5/hook"}, "url", "10.0.0.5 is a private address"),
    ({"kind": "webhook", "url": "http://localhost:8000/hook"}, "url", "localhost is a loopback address"),
    ({"kind": "webhook", "url": "http://user:pw@example.com/"}, "url", "must not carry a user name or password"),
    ({"kind": "webhook"}, "url", "give the http:// or https:// URL"),
    ({"kind": "email", "emailAddresses": ["not an address"]}, "emailAddresses", "'not an address' is not an e-mail"),
    ({"kind": "email", "url": HOOK, "emailAddresses": ["a@example.com"]}, "url", "takes emailAddresses, not a url"),
    ({"kind": "pager"}, "kind", "'pager' is not one of email, slack, webhook"),
    ({"kind": "webhook", "url": HOOK, "colour": "red"}, "colour", "unknown field 'colour'"),
])
def test_a_bad_channel_is_refused_naming_the_field_and_nothing_is_stored(cast: Cast, body: dict, field: str,
                                                                         words: str) -> None:
    answer = cast.client("admin").post(CHANNELS, {"name": "x", "organizationId": cast.org.pk, **body}, format="json")
    assert answer.status_code == 400, answer.json()
    assert answer.json()["field"] == field and words in answer.json()["detail"], answer.json()
    assert answer.json()["code"] == "invalid"
    assert not Channel.objects.exists()


def test_who_may_manage_what(cast: Cast) -> None:
    assert webhook(cast, "member").status_code == 403  # members see, admins manage
    assert webhook(cast, "a").status_code == 403  # not a member at all
    assert cast.client("anonymous").get(CHANNELS).status_code == 401
    platform = cast.client("admin").post(CHANNELS, {"name": "p", "kind": "webhook", "url": HOOK}, format="json")
    assert platform.status_code == 403 and "platform-wide" in platform.json()["detail"]
    assert cast.client("staff").post(CHANNELS, {"name": "p", "kind": "webhook", "url": HOOK},
                                     format="json").status_code == 201
    missing = cast.client("staff").post(CHANNELS, {"name": "p", "kind": "webhook", "url": HOOK,
                                                   "organizationId": 999999}, format="json")
    assert missing.status_code == 400 and missing.json()["field"] == "organizationId"
    channel_id = webhook(cast).json()["id"]
    # another organization's member does not see it: 404, not 403
    assert cast.client("a").get(f"{CHANNELS}/{channel_id}").status_code == 404
    assert cast.client("a").patch(f"{CHANNELS}/{channel_id}", {"name": "mine"}, format="json").status_code == 404
    assert cast.client("member").patch(f"{CHANNELS}/{channel_id}", {"name": "x"}, format="json").status_code == 403
    assert cast.client("member").delete(f"{CHANNELS}/{channel_id}").status_code == 403
    renamed = cast.client("admin").patch(f"{CHANNELS}/{channel_id}", {"name": "renamed"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed"
    kind = cast.client("admin").patch(f"{CHANNELS}/{channel_id}", {"kind": "email"}, format="json")
    assert kind.status_code == 400 and kind.json()["field"] == "kind"
    assert cast.client("member").get(CHANNELS).json()["pagination"]["total"] == 1  # not the platform's
    assert cast.client("staff").get(CHANNELS).json()["pagination"]["total"] == 2
    assert cast.client("admin").delete(f"{CHANNELS}/{channel_id}").status_code == 204
    assert cast.client("admin").get(f"{CHANNELS}/{channel_id}").status_code == 404
    assert cast.client("admin").get(f"{CHANNELS}/abc").json()["field"] == "id"


def test_rules_are_created_checked_and_changed(cast: Cast) -> None:
    channel_id = webhook(cast).json()["id"]
    body = {"name": "backlog", "event": "queue.backlog", "organizationId": cast.org.pk, "channelIds": [channel_id],
            "queue": "default", "threshold": 100, "projectId": cast.project.pk}
    made = cast.client("admin").post(RULES, body, format="json")
    assert made.status_code == 201, made.json()
    rule = made.json()
    assert (rule["event"], rule["threshold"], rule["channelIds"], rule["throttleSeconds"], rule["digestSize"]) == (
        "queue.backlog", 100.0, [channel_id], 300, 10)
    assert rule["waitingEvents"] == 0 and rule["firing"] == []
    changed = cast.client("admin").patch(f"{RULES}/{rule['id']}", {"throttleSeconds": 60, "jobType": "demo.sleep"},
                                         format="json")
    assert changed.status_code == 200 and changed.json()["throttleSeconds"] == 60
    assert changed.json()["jobType"] == "demo.sleep"
    assert cast.client("member").get(f"{RULES}/{rule['id']}").status_code == 200
    assert cast.client("a").get(f"{RULES}/{rule['id']}").status_code == 404
    assert cast.client("member").delete(f"{RULES}/{rule['id']}").status_code == 403
    assert cast.client("admin").delete(f"{RULES}/{rule['id']}").status_code == 204
    assert not Rule.objects.exists()


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"threshold": None}, "threshold", "queue.backlog needs a threshold"),
    ({"threshold": -1}, "threshold", "queue.backlog needs a threshold from 0"),
    ({"event": "jobs.failure_rate", "threshold": 5}, "windowSeconds", "jobs.failure_rate needs a window"),
    ({"event": "queue.no_consumer", "threshold": 5}, "threshold", "queue.no_consumer takes no threshold"),
    ({"event": "schedule.missed", "threshold": None, "queue": ""}, "projectId", "schedules belong to no project"),
    ({"jobType": "no.such.type"}, "jobType", "unknown job type 'no.such.type'"),
    ({"jobType": "notifications.deliver"}, "jobType", "unknown job type 'notifications.deliver'"),
    ({"queue": "nowhere"}, "queue", "'nowhere' is not one of the queues"),
    ({"channelIds": []}, "channelIds", "give at least one channel"),
    ({"channelIds": [999999]}, "channelIds", "no channel 999999"),
    ({"projectId": 999999}, "projectId", "no project 999999"),
    ({"event": "job.exploded"}, "event", '"job.exploded" is not one of'),
    ({"throttleSeconds": -5}, "throttleSeconds", "is not a whole number from 0"),
    ({"digestSize": 0}, "digestSize", "is not a whole number from 1 to 100"),
])
def test_a_bad_rule_is_refused_naming_the_field(cast: Cast, change: dict, field: str, words: str) -> None:
    channel_id = webhook(cast).json()["id"]
    body = {"name": "r", "event": "queue.backlog", "organizationId": cast.org.pk, "channelIds": [channel_id],
            "threshold": 10, "projectId": cast.project.pk, **change}
    answer = cast.client("admin").post(RULES, body, format="json")
    assert answer.status_code == 400, answer.json()
    assert answer.json()["field"] == field and words in answer.json()["detail"], answer.json()
    assert not Rule.objects.exists()


def test_another_organizations_project_is_no_project_as_a_missing_one_is(cast: Cast) -> None:
    channel_id = webhook(cast).json()["id"]
    body = {"name": "r", "event": "job.failed", "organizationId": cast.org.pk, "channelIds": [channel_id]}
    theirs = cast.client("admin").post(RULES, {**body, "projectId": cast.other_project.pk}, format="json")
    assert theirs.status_code == 400
    assert theirs.json()["detail"] == f"projectId: no project {cast.other_project.pk}"  # nothing to probe ids with
    assert not Rule.objects.exists()


def test_a_rule_sends_to_channels_of_its_own_organization_only(cast: Cast) -> None:
    other = services.channel_create(name="theirs", kind="webhook", url=HOOK, organization=cast.other_org).channel
    platform = services.channel_create(name="ops", kind="webhook", url=HOOK).channel
    body = {"name": "r", "event": "job.failed", "organizationId": cast.org.pk}
    hidden = cast.client("admin").post(RULES, {**body, "channelIds": [other.pk]}, format="json")
    assert hidden.status_code == 400 and hidden.json()["detail"] == f"channelIds: no channel {other.pk}"
    mixed = cast.client("staff").post(RULES, {**body, "channelIds": [platform.pk]}, format="json")
    assert mixed.status_code == 400
    assert mixed.json()["detail"] == (f"channelIds: channel {platform.pk} does not belong to organization "
                                      f"{cast.org.pk}, where the rule is")


def test_deliveries_are_listed_with_their_attempts_and_resent(cast: Cast, private_addresses_allowed: None,
                                                              django_capture_on_commit_callbacks: Any) -> None:
    channel = services.channel_create(name="dead", kind="webhook", url="http://127.0.0.1:9/nothing-listens",
                                      organization=cast.org).channel
    rule = services.rule_create(name="r", event="job.failed", organization=cast.org, channels=[channel],
                                throttle_seconds=0)
    with jobs_recorded() as sent, django_capture_on_commit_callbacks(execute=True):
        [delivery] = services.event_record(rule_id=rule.pk, kind="job.failed", state="firing", key="job:1",
                                           summary="job 1 failed")
    busy = cast.client("admin").post(f"/api/notifications/deliveries/{delivery.pk}/resend")
    assert busy.status_code == 409 and busy.json()["currentStatus"] == "pending"
    services.delivery_attempt(delivery_id=delivery.pk, last=True)
    listed = cast.client("member").get("/api/notifications/deliveries", {"status": "failed"}).json()
    assert [d["id"] for d in listed["deliveries"]] == [str(delivery.pk)]
    one = cast.client("member").get(f"/api/notifications/deliveries/{delivery.pk}").json()
    assert one["messageId"] == delivery.message_id and one["status"] == "failed"
    [attempt] = one["attempts"]
    assert attempt["number"] == 1 and attempt["outcome"] == "failed" and "cannot connect" in attempt["error"]
    assert cast.client("member").post(f"/api/notifications/deliveries/{delivery.pk}/resend").status_code == 403
    assert cast.client("a").get(f"/api/notifications/deliveries/{delivery.pk}").status_code == 404
    assert cast.client("a").get("/api/notifications/deliveries/not-a-uuid").status_code == 404
    with jobs_recorded() as resent, django_capture_on_commit_callbacks(execute=True):
        again = cast.client("admin").post(f"/api/notifications/deliveries/{delivery.pk}/resend")
    assert again.status_code == 202 and again.json()["status"] == "pending"
    assert [r.job_type for r in sent + resent].count("notifications.deliver") == 2
    assert Delivery.objects.get(pk=delivery.pk).job_id != delivery.job_id


def test_a_page_of_rules_shows_what_waits_and_what_fires_in_a_few_queries(
        cast: Cast, private_addresses_allowed: None, django_capture_on_commit_callbacks: Any,
        django_assert_max_num_queries: Any) -> None:
    from django.utils import timezone

    channel = services.channel_create(name="c", kind="webhook", url=HOOK, organization=cast.org).channel
    rules = [services.rule_create(name=f"r{n}", event="queue.backlog", organization=cast.org, channels=[channel],
                                  threshold=0, throttle_seconds=3600) for n in range(3)]
    now = timezone.now()
    with jobs_recorded(), django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            services.event_record(rule_id=rules[0].pk, kind="queue.backlog", state="firing", key=f"queue:q{n}",
                                  summary="s", now=now)
        rules[1].conditions.create(key="queue:default", active=True)
    client = cast.client("member")
    client.get(RULES)  # the token's first use writes its last-used time
    with django_assert_max_num_queries(8):
        listed = {r["name"]: r for r in client.get(RULES).json()["rules"]}
    assert (listed["r0"]["waitingEvents"], listed["r0"]["firing"]) == (2, [])  # the first went out at once
    assert (listed["r1"]["waitingEvents"], listed["r1"]["firing"]) == (0, ["queue:default"])
    one = client.get(f"{RULES}/{rules[0].pk}").json()
    assert one["waitingEvents"] == 2
