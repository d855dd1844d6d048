"""The job page: status and actions, why a queued job waits, input and result pretty-printed and
masked for those who may not see them, the timeline of attempts, rescues and operator actions,
the handler's log lines kept in Redis, and the live regions that console/live.js refreshes."""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.actors import Actor, Source
from audit.services import audit_record
from handlers.context import JobContext, _formatted
from jobs import presenters, services
from jobs.models import Job, Membership, PauseKind
from jobs.operator_groups import READ_ONLY
from jobs.selectors.log_lines import job_log_lines, log_key
from jobs.selectors.payload import MASK
from jobs.testing import jobs_run_inline
from jobs.worker import log_lines as worker_log_lines
from telemetry import redis_client
from tests.api_support import client_for
from tests.factories import job_in_status, make_membership, make_org, make_user

pytestmark = pytest.mark.django_db

SECRETS = {"user": "ada-lovelace", "password": "hunter2", "token": "tok-123456"}


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    def clean() -> None:
        client = redis_client.client()
        for pattern in ("conveyor:joblog:*", "conveyor:liveness:*"):
            keys = list(client.scan_iter(match=pattern))
            if keys:
                client.delete(*keys)
        worker_log_lines.reset()

    clean()
    yield
    clean()


@pytest.fixture
def ops(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser(username="ops", email="ops@example.com", password=None)


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_of(client: Client, job: Job) -> str:
    response = client.get(reverse("admin:jobs_job_change", args=[job.pk]))
    assert response.status_code == 200
    return response.content.decode()


def region(page: str, name: str) -> str:
    """The HTML of one live region (the regions do not nest)."""
    match = re.search(rf'<(section|div)[^>]*data-live-region="{name}".*?</\1>', page, re.DOTALL)
    assert match, f"no live region {name!r}"
    return match.group(0)


def staff(name: str, *codenames: str) -> Any:
    user = make_user(name, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="jobs", codename__in=codenames))
    return user


class KeepingLink:
    """A link that keeps log lines as a tracked job's link does, without a Job row's progress."""

    def __init__(self, job_id: Any) -> None:
        self.job_id = job_id

    def write_progress(self, percent: int, message: str) -> bool:
        return False

    def cancel_requested(self) -> bool:
        return False

    def write_log(self, attempt: int, level: int, message: str) -> None:
        worker_log_lines.keep_line(job_id=self.job_id, attempt=attempt, level=level, message=message)


def context_for(job: Job, attempt: int = 1) -> JobContext:
    return JobContext(job_id=str(job.pk), job_type=job.type, input=job.input, attempt=attempt, max_attempts=3,
                      link=KeepingLink(job.pk))


# --- the page ---------------------------------------------------------------------------------


def test_the_page_of_a_queued_job_says_why_it_waits_in_a_live_region(ops: Any) -> None:
    services.pause_set(kind=PauseKind.TYPE, name="demo.sleep",
                       by=Actor(user=ops, source=Source.ADMIN, reason="maintenance window"))
    job = job_in_status("queued", input={"seconds": 2, "steps": 4})
    page = page_of(signed_in(ops), job)
    why = region(page, "job-why")
    assert "Why is this job not running?" in why
    assert 'data-reason="paused"' in why and "Its type demo.sleep is paused by ops" in why
    assert "&quot;maintenance window&quot;" in why
    for name in ("job-status", "job-progress", "job-outcome", "job-timeline", "job-log"):
        region(page, name)
    assert "console/live.js" in page and "data-live-control" in page
    # input pretty-printed: indented JSON, sorted keys
    assert '{\n  &quot;seconds&quot;: 2,\n  &quot;steps&quot;: 4\n}' in page
    assert reverse("admin:jobs_job_cancel", args=[job.pk]) in region(page, "job-status")


def test_a_running_job_has_no_why_and_shows_its_progress(ops: Any) -> None:
    job = job_in_status("running")
    services.job_heartbeat(job=job, progress=40, message="step 2 of 5")
    page = page_of(signed_in(ops), job)
    assert "Why is this job" not in page
    progress = region(page, "job-progress")
    assert '<progress max="100" value="40">' in progress and "step 2 of 5" in progress
    assert "job-status-running" in region(page, "job-status")


def test_the_flower_link_names_the_current_task(ops: Any) -> None:
    job = job_in_status("running")
    page = page_of(signed_in(ops), job)
    link = re.search(r'class="job-page-flower field-flower_task">.*?<a href="([^"]+)"[^>]*>([^<]+)</a>', page,
                     re.DOTALL)
    assert link is not None
    assert link.group(1) == f"{settings.FLOWER_URL}/task/{job.current_task_id}" and link.group(2) == job.current_task_id


def test_completed_job_shows_its_result_pretty_printed(ops: Any) -> None:
    job = job_in_status("completed")
    outcome = region(page_of(signed_in(ops), job), "job-outcome")
    assert '<pre class="job-json job-result">{\n  &quot;ok&quot;: true\n}</pre>' in outcome


def test_timeline_merges_attempts_rescues_cancels_and_audit_entries_in_time_order(ops: Any) -> None:
    job = job_in_status("running", type="test.flaky_fast")
    services.job_fail(job=job, error="planned failure on attempt 1",
                      traceback="Traceback (most recent call last):\nRetryableError: planned", delay=0)
    job.refresh_from_db()
    claimed = services.job_claim(job_id=job.pk, token=job.token, worker="celery@second-host")
    assert claimed is not None
    # attempt 2's worker dies: the rescuer requeues it
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert services.job_rescue(job_id=job.pk, token=claimed.token) == "queued"
    job.refresh_from_db()
    third = services.job_claim(job_id=job.pk, token=job.token, worker="celery@third-host")
    assert third is not None
    services.job_cancel(job_id=job.pk, by=Actor(user=ops, source=Source.ADMIN, address="10.1.2.3",
                                                 reason="customer asked"))
    services.job_acknowledge_cancel(job=Job.objects.get(pk=job.pk))
    client = signed_in(ops)

    timeline = region(page_of(client, job), "job-timeline")
    assert kinds_of(timeline) == ["created", "attempt", "attempt", "rescued", "attempt", "cancel_requested", "audit",
                                  "finished"]
    titles = re.findall(r'<strong class="job-event-title">([^<]+)</strong>', timeline)
    assert titles[1:5] == ["Attempt 1: Failed (will retry)", "Attempt 2: Worker lost",
                           "Rescued: attempt 2 lost its worker", "Attempt 3: Cancelled"]
    assert titles[7] == "Cancelled"
    assert "on celery@test-host" in timeline and "on celery@second-host" in timeline
    assert "planned failure on attempt 1" in timeline
    assert '<details class="job-traceback"' in timeline and "RetryableError: planned" in timeline
    assert "stopped heartbeating during attempt 2" in timeline
    assert "Cancel by ops" in timeline and "through the admin from 10.1.2.3: &ldquo;customer asked&rdquo;" in timeline

    # a retry starts the row afresh; the history stays: attempts and audit entries
    services.job_retry(job_id=job.pk, by=Actor(user=ops, source=Source.API, reason="try once more"))
    timeline = region(page_of(client, job), "job-timeline")
    assert kinds_of(timeline) == ["created", "attempt", "attempt", "rescued", "attempt", "audit", "audit"]
    assert "Retry by ops" in timeline and "through the API" in timeline and "try once more" in timeline


def test_a_cancel_asked_while_running_is_on_the_timeline(ops: Any) -> None:
    job = job_in_status("running")
    services.job_cancel(job_id=job.pk, by=Actor(user=ops, source=Source.ADMIN))
    timeline = region(page_of(signed_in(ops), job), "job-timeline")
    assert kinds_of(timeline) == ["created", "attempt", "cancel_requested", "audit"]
    assert "(no reason given)" in timeline and "Attempt 1 running" in timeline


def kinds_of(timeline: str) -> list[str]:
    return re.findall(r'data-event="([a-z_]+)"', timeline)


def test_the_page_costs_the_same_queries_whatever_the_history(ops: Any) -> None:
    client = signed_in(ops)
    job = job_in_status("failed")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page_of(client, job)
        return len(captured)

    few = queries()
    for n in range(5):
        audit_record(by=Actor(user=ops, source=Source.ADMIN), action="retry", target_kind="job", target_id=job.pk,
                     outcome=f"queued {n}")
    assert queries() == few


# --- masking (who may see the input, its sensitive fields, the result) --------------------------


def sensitive_job(owner: Any = None, **fields: Any) -> Job:
    job = job_in_status("completed", type="test.sensitive", input=dict(SECRETS), created_by=owner, **fields)
    return job


def test_a_read_only_operator_sees_sensitive_fields_masked(ops: Any) -> None:
    rita = make_user("rita", is_staff=True)
    rita.groups.add(Group.objects.get(name=READ_ONLY))
    job = sensitive_job(owner=ops)
    page = page_of(signed_in(rita), job)
    assert "hunter2" not in page and "tok-123456" not in page
    assert f"&quot;password&quot;: &quot;{MASK}&quot;" in page and "&quot;user&quot;: &quot;ada-lovelace&quot;" in page
    assert "Sensitive input fields masked (password, token)" in page and "jobs.view_sensitive_input" in page
    assert "&quot;ok&quot;: true" in page  # the result: jobs.view_job_payload


def test_without_the_payload_permission_neither_input_nor_result_nor_log_lines(ops: Any) -> None:
    viewer = staff("vera", "view_job")
    job = sensitive_job(owner=ops)
    context_for(job).log("signing in as %s", "ada-lovelace")
    page = page_of(signed_in(viewer), job)
    assert "ada-lovelace" not in page and "hunter2" not in page and "&quot;ok&quot;" not in page
    assert "seeing them needs the permission jobs.view_job_payload" in page
    assert "Hidden with the input and result." in region(page, "job-log")


def test_the_owner_and_those_with_the_permission_see_everything(ops: Any) -> None:
    owner = staff("olive", "view_job")
    trusted = staff("tess", "view_job", "view_job_payload", "view_sensitive_input")
    org = make_org()
    org_admin = staff("adam", "view_job")
    make_membership(org_admin, org, Membership.Role.ADMIN)
    job = sensitive_job(owner=owner, organization=org)
    for user in (owner, trusted, org_admin, ops):
        page = page_of(signed_in(user), job)
        assert "hunter2" in page and "tok-123456" in page and "masked" not in page, user


def test_the_api_masks_as_the_page_does(ops: Any) -> None:
    org = make_org()
    member = make_user("mia")
    make_membership(member, org, Membership.Role.MEMBER)
    job = sensitive_job(owner=make_user("otto"), organization=org)
    seen = client_for(member).get(f"/api/jobs/{job.pk}").json()
    # an ordinary member sees the organization's jobs, not their payloads
    assert seen["input"] is None and seen["result"] is None
    assert "jobs.view_job_payload" in seen["payloadHidden"]
    listed = client_for(member).get("/api/jobs").json()["jobs"]
    assert [entry["input"] for entry in listed] == [None]
    member.user_permissions.add(Permission.objects.get(codename="view_job_payload"))
    member = type(member).objects.get(pk=member.pk)  # permissions are cached per user object
    seen = client_for(member).get(f"/api/jobs/{job.pk}").json()
    assert seen["input"] == {**SECRETS, "password": MASK, "token": MASK}
    assert seen["maskedInputFields"] == ["password", "token"] and seen["payloadHidden"] is None


def test_the_presenter_without_a_viewer_shows_everything() -> None:
    job = sensitive_job()
    shown = presenters.job_to_dict(job)
    assert shown["input"] == SECRETS and shown["payloadHidden"] is None and shown["maskedInputFields"] == []
    assert json.dumps(shown)


# --- log lines ---------------------------------------------------------------------------------------


def test_log_lines_are_kept_and_shown_oldest_first(ops: Any) -> None:
    job = job_in_status("running", type="test.log_lines")
    ctx = context_for(job)
    ctx.log("fetched %s rows", 12)
    ctx.log("slow source", level=logging.WARNING)
    context_for(job, attempt=2).log("retrying %(what)s", {"what": "the source"})
    kept = job_log_lines(job_id=job.pk)
    assert [(line.attempt, line.level, line.message) for line in kept.lines] == [
        (1, "INFO", "fetched 12 rows"), (1, "WARNING", "slow source"), (2, "INFO", "retrying the source")]
    log = region(page_of(signed_in(ops), job), "job-log")
    assert log.index("fetched 12 rows") < log.index("slow source") < log.index("retrying the source")
    assert '<tr class="job-log-warning">' in log


def test_a_line_whose_arguments_do_not_fit_is_kept_with_them() -> None:
    assert _formatted("%d rows", ("twelve",)) == "%d rows 'twelve'"
    assert _formatted("100% done", ()) == "100% done"


def test_the_list_is_capped_and_expires(settings: Any) -> None:
    settings.JOBS_LOG_LINES_KEPT = 3
    settings.JOBS_LOG_RETENTION_SECONDS = 600
    job = job_in_status("running")
    ctx = context_for(job)
    for n in range(1, 8):
        ctx.log("line %s", n)
    lines = job_log_lines(job_id=job.pk)
    assert [line.message for line in lines.lines] == ["line 5", "line 6", "line 7"] and lines.maybe_more
    ttl = redis_client.client().ttl(log_key(job.pk))
    assert 590 <= ttl <= 600


def test_a_redis_failure_never_fails_the_job(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    job = job_in_status("running")

    class Down:
        def pipeline(self, **kwargs: Any) -> Any:
            raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(worker_log_lines, "_client_for", lambda url: Down())
    ctx = context_for(job)
    with caplog.at_level(logging.WARNING, logger="conveyor.worker"):
        ctx.log("first")
        ctx.log("second")  # within the quiet period: not tried, no second warning
    warnings = [r for r in caplog.records if "log lines are not kept" in r.getMessage()]
    assert len(warnings) == 1 and "Connection refused" in warnings[0].getMessage()
    assert worker_log_lines.keep_line(job_id=job.pk, attempt=1, level=logging.INFO, message="x") is False


def test_the_page_says_when_the_lines_cannot_be_read(ops: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    job = job_in_status("completed")

    class Down:
        def lrange(self, *args: Any) -> Any:
            raise redis.ConnectionError("Connection refused")

        def __getattr__(self, name: str) -> Any:
            return getattr(redis_client._client_for(settings.CELERY_BROKER_URL), name)

    monkeypatch.setattr(redis_client, "client", lambda: Down())
    log = region(page_of(signed_in(ops), job), "job-log")
    assert "the log lines could not be read from Redis (Connection refused)" in log


def test_a_job_run_by_the_worker_keeps_its_log_lines(ops: Any, django_capture_on_commit_callbacks: Any) -> None:
    """The whole path: the worker's runner (inline here) gives the handler a context whose link
    keeps each ctx.log() line; the page shows both attempts' lines."""
    with jobs_run_inline(), django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(type="test.log_lines", input={"lines": 3, "fail_first": True}).job
    job.refresh_from_db()
    assert job.status == "completed" and job.attempts == 2
    lines = job_log_lines(job_id=job.pk).lines
    assert [(line.attempt, line.message) for line in lines] == [
        (1, "line 1 of attempt 1"), (1, "line 2 of attempt 1"), (1, "line 3 of attempt 1"),
        (2, "line 1 of attempt 2"), (2, "line 2 of attempt 2"), (2, "line 3 of attempt 2")]
    assert "line 3 of attempt 2" in region(page_of(signed_in(ops), job), "job-log")
