"""The audit log: every operator action (schedule changes, run now, API tokens; jobs and pauses
are in test_pauses.py) is recorded with actor, source, address and reason, a read-only
operator is refused everywhere, and the log is append-only and browsable in the admin."""
from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from knox.models import AuthToken

from audit.actors import Actor, Source
from audit.models import AuditEntry
from jobs.operator_groups import OPERATORS, READ_ONLY
from scheduler import services as schedules
from tests.api_support import client_for
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def member_of(group: str, name: str) -> object:
    user = make_user(name, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def a_schedule(owner: object) -> object:
    return schedules.schedule_create(owner=owner, name="nightly-report", job_type="demo.sleep", input={"seconds": 0},
                                     frequency="daily", time_of_day="03:00")


def test_schedule_changes_are_recorded_and_a_read_only_operator_is_refused_with_403():
    owner = make_user("owen")
    schedule = a_schedule(owner)
    olga, rita = member_of(OPERATORS, "olga"), member_of(READ_ONLY, "rita")
    refused = client_for(rita).patch(f"/api/schedules/{schedule.pk}", {"timeOfDay": "05:30"}, format="json")
    assert refused.status_code == 403 and "scheduler.change_scheduledjob" in refused.json()["detail"]
    assert client_for(rita).post(f"/api/schedules/{schedule.pk}/run").status_code == 403
    assert client_for(rita).delete(f"/api/schedules/{schedule.pk}").status_code == 403
    changed = client_for(olga).patch(f"/api/schedules/{schedule.pk}", {"timeOfDay": "05:30"}, format="json")
    assert changed.status_code == 200
    assert client_for(olga).post(f"/api/schedules/{schedule.pk}/run").status_code == 201
    entries = list(AuditEntry.objects.filter(target_kind="schedule").order_by("id")
                   .values_list("actor_name", "source", "action", "target_id"))
    assert entries == [("olga", "api", "schedule.change", str(schedule.pk)),
                       ("olga", "api", "schedule.run_now", str(schedule.pk))]


def test_the_schedules_command_refuses_a_read_only_operator_and_records_the_shell():
    schedule = a_schedule(make_user("owen"))
    member_of(READ_ONLY, "rita")
    with pytest.raises(CommandError, match="rita may not pause schedule"):
        call_command("schedules", "pause", str(schedule.pk), "--as", "rita")
    with pytest.raises(CommandError, match="rita may not run now schedule"):
        call_command("schedules", "run", str(schedule.pk), "--as", "rita")
    call_command("schedules", "pause", str(schedule.pk), "--reason", "holiday", stdout=StringIO())
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.source, entry.reason) == ("schedule.pause", "command", "holiday")
    assert entry.actor_name.endswith("(shell)")


def test_api_tokens_made_and_revoked_are_recorded():
    make_user("alice")
    out = StringIO()
    call_command("create_api_token", "alice", "--quiet", "--reason", "CI", stdout=out)
    key = AuthToken.objects.get().token_key
    assert out.getvalue().strip().startswith(key)
    with pytest.raises(CommandError, match="has no API token whose key starts with 'zzzz'"):
        call_command("revoke_api_tokens", "alice", "--key", "zzzz")
    call_command("revoke_api_tokens", "alice", stdout=StringIO())
    assert not AuthToken.objects.exists()
    assert list(AuditEntry.objects.order_by("id").values_list("action", "target_id", "outcome")) == [
        ("token.create", "alice", f"token {key}…"), ("token.revoke", "alice", f"token {key}…")]


def test_entries_are_append_only():
    entry = AuditEntry.objects.create(at="2026-01-01T00:00:00Z", actor_name="x", source=Source.API, action="cancel")
    entry.reason = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()


def test_the_admin_lists_and_filters_the_log_and_offers_no_change_or_delete():
    olga = member_of(OPERATORS, "olga")
    schedule = a_schedule(make_user("owen"))
    schedules.schedule_pause(schedule=schedule, by=Actor(user=olga, source=Source.ADMIN, reason="too noisy"))
    admin = make_user("root", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(admin)
    page = browser.get("/admin/audit/auditentry/?action=schedule.pause")
    assert page.status_code == 200
    assert b"too noisy" in page.content and b"olga" in page.content
    entry = AuditEntry.objects.get()
    assert browser.get(f"/admin/audit/auditentry/{entry.pk}/delete/").status_code == 403
    assert browser.post(f"/admin/audit/auditentry/{entry.pk}/change/", {"reason": "x"}).status_code == 403
    assert AuditEntry.objects.get().reason == "too noisy"


def test_pause_from_the_admin_is_made_through_the_service_and_recorded_with_the_address():
    olga = member_of(OPERATORS, "olga")
    browser = Client(REMOTE_ADDR="10.0.0.9")
    browser.force_login(olga)
    made = browser.post("/admin/jobs/pause/add/", {"target": "type:demo.sleep", "reason": "vendor outage",
                                                    "until_0": "", "until_1": ""})
    assert made.status_code == 302, made.content[:2000]
    entry = AuditEntry.objects.get()
    assert (entry.actor_name, entry.source, entry.action, entry.target_id, entry.reason, entry.client_address) == (
        "olga", "admin", "pause", "demo.sleep", "vendor outage", "10.0.0.9")
    rita = member_of(READ_ONLY, "rita")
    browser.force_login(rita)
    assert browser.get("/admin/jobs/pause/add/").status_code == 403
