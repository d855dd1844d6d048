"""Pause and resume a queue or a job type (`jobs.services.pauses`): the claim's statement
refuses a paused job and the delivery puts it back to waiting with no attempt spent; the
sweeper and the gates leave it alone; resume publishes it; every door (services, API, command)
checks the permission and writes the audit log. Real workers on two hosts' worth of processes
are in tests/acceptance/test_pause_workers.py."""
from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.actors import Actor, Source
from audit.models import AuditEntry
from jobs import publishing, services
from jobs.errors import NotPermitted, PauseError
from jobs.models import Job, Pause
from jobs.services import sweeper
from jobs.testing import jobs_recorded
from tests.api_support import client_for
from tests.factories import job_in_status, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent():
    with jobs_recorded():
        start = len(publishing.recorded)
        yield lambda: publishing.recorded[start:]


def operator(name: str = "olga") -> object:
    user = make_user(name, is_staff=True)
    user.groups.add(Group.objects.get(name="Operators"))
    return user


def read_only(name: str = "rita") -> object:
    user = make_user(name, is_staff=True)
    user.groups.add(Group.objects.get(name="Read-only operators"))
    return user


def by(user: object, reason: str = "") -> Actor:
    return Actor(user=user, source=Source.API, address="127.0.0.1", reason=reason)


def row(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


def test_a_delivery_of_a_paused_type_claims_nothing_and_the_job_waits_without_a_message(sent):
    job = services.job_create(type="demo.sleep", input={"seconds": 0}).job
    services.pause_set(kind="type", name="demo.sleep", by=by(operator(), "deploy of the importer"))

    assert services.job_claim(job_id=job.pk, token=row(job).token, worker="w@test") is None
    waiting = row(job)
    assert (waiting.status, waiting.attempts, waiting.dispatched_at) == ("queued", 0, None)
    assert not waiting.attempt_set.exists()

    sweeper.sweep()  # the sweeper publishes no held job of a paused type
    assert row(job).dispatched_at is None

    before = len(sent())
    assert services.pause_lift(kind="type", name="demo.sleep", by=by(operator("otto"))) == 1
    resumed = row(job)
    assert resumed.dispatched_at is not None and resumed.token != waiting.token
    assert [m.job_id for m in sent()[before:]] == [str(job.pk)]
    claimed = services.job_claim(job_id=job.pk, token=resumed.token, worker="w@test")
    assert claimed is not None and claimed.attempts == 1


def test_a_paused_queue_holds_every_type_in_it_and_only_those(sent):
    held = services.job_create(type="process-attachment", input={"attachment_id": "7"}).job
    other = services.job_create(type="demo.sleep", input={"seconds": 0}).job
    assert (row(held).queue, row(other).queue) == ("attachments", "default")
    services.pause_set(kind="queue", name="attachments", by=None)
    assert services.job_claim(job_id=held.pk, token=row(held).token, worker="w@test") is None
    assert row(held).dispatched_at is None  # back at its gate (a concurrency limit), no room while paused
    assert services.job_claim(job_id=other.pk, token=row(other).token, worker="w@test") is not None


def test_a_pause_is_a_gate_with_no_room_and_resume_admits(sent):
    services.pause_set(kind="type", name="test.limited4", by=None)
    jobs = [services.job_create(type="test.limited4", input={"path": "x"}).job for _ in range(3)]
    assert all(row(job).dispatched_at is None for job in jobs)
    assert services.pause_lift(kind="type", name="test.limited4", by=None) == 3
    assert all(row(job).dispatched_at is not None for job in jobs)


def test_a_pause_with_an_end_time_is_lifted_by_the_sweeper_and_recorded_as_the_system(sent):
    job = services.job_create(type="demo.sleep", input={"seconds": 0}).job
    services.pause_set(kind="type", name="demo.sleep", until=timezone.now() + timedelta(minutes=5), by=None)
    services.job_claim(job_id=job.pk, token=row(job).token, worker="w@test")
    assert row(job).dispatched_at is None
    Pause.objects.update(until=timezone.now() - timedelta(seconds=1))  # its end came

    sweeper.sweep()
    assert not Pause.objects.exists()
    assert row(job).dispatched_at is not None
    entry = AuditEntry.objects.filter(action="resume").get()
    assert (entry.actor_name, entry.source, entry.target_id) == ("system", "system", "demo.sleep")


def test_pause_refuses_bad_input_naming_it_and_changes_nothing():
    user = operator()
    with pytest.raises(PauseError, match="kind: 'bucket' is not a kind"):
        services.pause_set(kind="bucket", name="default", by=by(user))
    with pytest.raises(PauseError, match="name: no queue 'nowhere'"):
        services.pause_set(kind="queue", name="nowhere", by=by(user))
    with pytest.raises(PauseError, match="name: no job type 'no.such'"):
        services.pause_set(kind="type", name="no.such", by=by(user))
    with pytest.raises(PauseError, match="until: .* is not in the future"):
        services.pause_set(kind="type", name="demo.sleep", until=timezone.now() - timedelta(hours=1), by=by(user))
    with pytest.raises(PauseError, match="job type 'demo.sleep' is not paused"):
        services.pause_lift(kind="type", name="demo.sleep", by=by(user))
    assert not Pause.objects.exists() and not AuditEntry.objects.exists()


def test_a_read_only_operator_may_neither_pause_nor_resume_nor_cancel_nor_retry():
    job = services.job_create(type="demo.sleep", input={"seconds": 0}).job
    rita = read_only()
    with pytest.raises(NotPermitted, match="rita may not pause type demo.sleep: it needs the permission"):
        services.pause_set(kind="type", name="demo.sleep", by=by(rita))
    services.pause_set(kind="type", name="demo.sleep", by=None)
    with pytest.raises(NotPermitted, match="jobs.pause_work"):
        services.pause_lift(kind="type", name="demo.sleep", by=by(rita))
    with pytest.raises(NotPermitted, match="jobs.cancel_job"):
        services.job_cancel(job_id=job.pk, by=by(rita))
    assert row(job).status == "queued"
    assert Pause.objects.count() == 1


def test_the_shipped_groups_hold_what_their_names_say():
    read = set(Group.objects.get(name="Read-only operators").permissions.values_list("codename", flat=True))
    ops = set(Group.objects.get(name="Operators").permissions.values_list("codename", flat=True))
    assert {"view_job", "view_job_payload", "view_auditentry", "view_pause"} <= read
    assert not read & {"cancel_job", "retry_job", "bulk_job", "pause_work", "change_scheduledjob"}
    assert {"cancel_job", "retry_job", "bulk_job", "pause_work", "change_scheduledjob"} <= ops
    assert "view_sensitive_input" not in ops


def test_the_api_pauses_and_resumes_for_an_operator_and_refuses_a_read_only_one_with_403():
    olga, rita = operator(), read_only()
    refused = client_for(rita).post("/api/pauses", {"kind": "queue", "name": "default"}, format="json")
    assert refused.status_code == 403 and "jobs.pause_work" in refused.json()["detail"]
    made = client_for(olga).post("/api/pauses", {"kind": "queue", "name": "default", "reason": "DB upgrade"},
                                 format="json", REMOTE_ADDR="10.1.2.3")
    assert made.status_code == 201, made.json()
    assert made.json()["pausedBy"] == "olga" and made.json()["reason"] == "DB upgrade"
    listed = client_for(rita).get("/api/pauses").json()["pauses"]
    assert [(p["kind"], p["name"]) for p in listed] == [("queue", "default")]
    assert client_for(rita).delete("/api/pauses/queue/default").status_code == 403
    bad = client_for(olga).post("/api/pauses", {"kind": "queue", "name": "nowhere"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "name"
    resumed = client_for(olga).delete("/api/pauses/queue/default?reason=done")
    assert resumed.status_code == 200 and resumed.json() == {"published": 0}
    entries = list(AuditEntry.objects.order_by("at", "id").values_list("actor_name", "source", "action", "target_kind",
                                                                        "target_id", "reason", "client_address"))
    assert entries == [("olga", "api", "pause", "queue", "default", "DB upgrade", "10.1.2.3"),
                       ("olga", "api", "resume", "queue", "default", "done", "127.0.0.1")]


def test_the_api_refuses_a_read_only_operator_cancel_and_retry_with_403_and_records_an_operators():
    job = services.job_create(type="demo.sleep", input={"seconds": 0}).job
    rita, olga = read_only(), operator()
    assert client_for(rita).get(f"/api/jobs/{job.pk}").status_code == 200  # she may see it
    assert client_for(rita).post(f"/api/jobs/{job.pk}/cancel").status_code == 403
    refused = client_for(rita).post("/api/jobs/bulk/cancel", {"ids": [str(job.pk)]}, format="json").json()
    assert refused["changed"] == 0 and refused["errors"][0]["status"] == 403
    assert row(job).status == "queued"
    failed = job_in_status("failed")
    assert client_for(rita).post(f"/api/jobs/{failed.pk}/retry").status_code == 403
    refused = client_for(rita).post("/api/jobs/bulk/retry", {"statuses": ["failed"]}, format="json").json()
    assert refused["changed"] == 0 and {error["status"] for error in refused["errors"]} == {403}
    assert row(failed).status == "failed"
    done = client_for(olga).post(f"/api/jobs/{job.pk}/cancel", {"reason": "wrong customer"}, format="json")
    assert done.status_code == 200
    entry = AuditEntry.objects.get(action="cancel")
    assert (entry.actor_name, entry.target_id, entry.reason) == ("olga", str(job.pk), "wrong customer")


def test_the_command_pauses_resumes_and_refuses_a_read_only_operator_with_a_non_zero_exit():
    read_only("rita")
    job = services.job_create(type="demo.sleep", input={"seconds": 0}).job
    with pytest.raises(CommandError, match="rita may not pause"):
        call_command("jobs", "pause", "type", "demo.sleep", "--as", "rita")
    with pytest.raises(CommandError, match="rita may not cancel"):
        call_command("jobs", "cancel", str(job.pk), "--as", "rita")
    failed = job_in_status("failed")
    with pytest.raises(CommandError, match="rita may not retry .* 'jobs.retry_job'"):
        call_command("jobs", "retry", str(failed.pk), "--as", "rita")
    with pytest.raises(CommandError, match="rita may not resume"):
        call_command("jobs", "resume", "type", "demo.sleep", "--as", "rita")
    with pytest.raises(CommandError, match="--as: no active user 'nobody'"):
        call_command("jobs", "pause", "type", "demo.sleep", "--as", "nobody")
    with pytest.raises(CommandError, match="--until: 'tomorrow' is neither"):
        call_command("jobs", "pause", "type", "demo.sleep", "--until", "tomorrow")
    out = StringIO()
    call_command("jobs", "pause", "type", "demo.sleep", "--until", "30", "--reason", "maintenance", stdout=out)
    assert "Paused job type demo.sleep until" in out.getvalue()
    out = StringIO()
    call_command("jobs", "pauses", stdout=out)
    assert "demo.sleep" in out.getvalue() and "maintenance" in out.getvalue()
    out = StringIO()
    call_command("jobs", "resume", "type", "demo.sleep", stdout=out)
    assert "Resumed type demo.sleep" in out.getvalue()
    assert list(AuditEntry.objects.order_by("id").values_list("source", "action")) == [
        ("command", "pause"), ("command", "resume")]
    assert AuditEntry.objects.first().actor_name.endswith("(shell)")
