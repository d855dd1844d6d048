"""The ops dashboard: Job pages render, filters find stuck jobs, cancel and retry go through the
services and report what they refused, and nothing in the admin saves or deletes a Job."""
from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs import admin as jobs_admin
from jobs import selectors, services
from jobs.models import Job, Organization, Project
from tests.factories import job_in_status

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:jobs_job_changelist")


def change_url(job: Job) -> str:
    return reverse("admin:jobs_job_change", args=[job.pk])


@pytest.fixture
def superuser(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser(username="ops", email="ops@example.com", password=None)


@pytest.fixture
def client(superuser: Any) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def listed(response: Any) -> set[uuid.UUID]:
    return {job.pk for job in response.context["cl"].result_list}


def messages_of(response: Any) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def act(client: Client, action: str, jobs: list[Job]) -> Any:
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(job.pk) for job in jobs], "index": "0", "select_across": "0"},
    )


def snapshot(job: Job) -> Mapping[str, Any]:
    return Job.objects.filter(pk=job.pk).values().get()


# --- pages ----------------------------------------------------------------------------------


def test_changelist_renders_every_column(client: Client, superuser: Any) -> None:
    org = Organization.objects.create(name="Acme", slug="acme")
    project = Project.objects.create(name="Reports", organization=org)
    failed = job_in_status("failed", created_by=superuser, organization=org, project=project)
    queued = job_in_status("queued", type="demo.flaky")
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    page = response.content.decode()
    for text in (str(failed.pk)[:8], str(queued.pk)[:8], "demo.flaky", "Failed", "Queued", "1/3", "0/3",
                 "Acme", "Reports", "celery@test-host", "Cancel selected jobs", "Retry selected jobs", "stuck"):
        assert text in page, text
    assert listed(response) == {failed.pk, queued.pk}


def test_changelist_queries_do_not_grow_with_the_page(client: Client, django_user_model: Any) -> None:
    org = Organization.objects.create(name="Acme", slug="acme")

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(CHANGELIST).status_code == 200
        return len(queries)

    def add_jobs(n: int) -> None:
        for _ in range(n):
            user = django_user_model.objects.create_user(username=f"u{uuid.uuid4().hex[:8]}")
            job_in_status(created_by=user, organization=org, project=Project.objects.create(name="p", organization=org))

    add_jobs(2)
    few = page_queries()
    add_jobs(10)
    assert page_queries() == few


def test_change_page_shows_error_traceback_and_attempts(client: Client) -> None:
    job = job_in_status("failed")
    response = client.get(change_url(job))
    assert response.status_code == 200
    page = response.content.decode()
    assert "boom: the disk is full" in page
    assert "Traceback (most recent call last):" in page and "OSError: boom" in page
    # the attempts inline: number, worker, outcome, error
    assert "Failed (final)" in page and "celery@test-host" in page
    assert reverse("admin:jobs_job_retry", args=[job.pk]) in page
    assert reverse("admin:jobs_job_cancel", args=[job.pk]) not in page
    # view-only: no save buttons
    assert 'name="_save"' not in page


def test_change_page_of_a_queued_job_offers_cancel(client: Client) -> None:
    job = job_in_status("queued")
    page = client.get(change_url(job)).content.decode()
    assert reverse("admin:jobs_job_cancel", args=[job.pk]) in page
    assert "No attempts" not in page  # an empty inline renders no rows, not an error


def test_search_by_id_prefix_full_id_type_and_dedup_key(client: Client) -> None:
    a = job_in_status("queued", type="demo.flaky", dedup_key="attachment-42")
    b = job_in_status("queued")
    assert listed(client.get(CHANGELIST, {"q": str(a.pk)})) == {a.pk}
    assert listed(client.get(CHANGELIST, {"q": str(b.pk)[:8]})) == {b.pk}
    # other fields by key (tests/integration/test_console_job_list.py has the whole syntax)
    assert listed(client.get(CHANGELIST, {"q": "type:demo.flaky"})) == {a.pk}
    assert listed(client.get(CHANGELIST, {"q": "dedup:attachment-4*"})) == {a.pk}
    # a word without a key that is not an id is explained, not guessed at
    response = client.get(CHANGELIST, {"q": "flaky"})
    assert response.status_code == 200 and listed(response) == set()
    assert "&#x27;flaky&#x27; is not a job id" in response.content.decode()


def test_status_type_and_queue_filters(client: Client) -> None:
    queued = job_in_status("queued", type="demo.flaky")
    completed = job_in_status("completed")
    assert listed(client.get(CHANGELIST, {"status__exact": "completed"})) == {completed.pk}
    assert listed(client.get(CHANGELIST, {"type": "demo.flaky"})) == {queued.pk}
    assert listed(client.get(CHANGELIST, {"queue": "default"})) == {queued.pk, completed.pk}


# --- stuck jobs ---------------------------------------------------------------------------------


def test_stuck_filter_finds_stale_heartbeats_and_unclaimed_jobs(client: Client) -> None:
    long_ago = timezone.now() - timedelta(hours=1)
    stale = job_in_status("running")
    Job.objects.filter(pk=stale.pk).update(heartbeat_at=long_ago)  # arrange: its worker died an hour ago
    job_in_status("running")  # heartbeating
    unclaimed = job_in_status("queued")
    Job.objects.filter(pk=unclaimed.pk).update(queued_at=long_ago, dispatched_at=long_ago)  # its message: an hour out
    job_in_status("queued")  # just queued
    delayed = job_in_status("queued", delay=3600)
    Job.objects.filter(pk=delayed.pk).update(queued_at=long_ago)  # waiting, but not due yet
    job_in_status("completed")

    assert listed(client.get(CHANGELIST, {"stuck": "stale"})) == {stale.pk}
    assert listed(client.get(CHANGELIST, {"stuck": "unclaimed"})) == {unclaimed.pk}
    assert listed(client.get(CHANGELIST, {"stuck": "any"})) == {stale.pk, unclaimed.pk}
    assert set(selectors.stale_running_jobs().values_list("pk", flat=True)) == {stale.pk}
    assert set(selectors.unclaimed_queued_jobs().values_list("pk", flat=True)) == {unclaimed.pk}


def test_a_running_job_that_never_heartbeated_is_stale_once_old() -> None:
    job = job_in_status("running")
    Job.objects.filter(pk=job.pk).update(heartbeat_at=None, updated_at=timezone.now() - timedelta(hours=1))
    assert list(selectors.stuck_jobs(kind="stale")) == [Job.objects.get(pk=job.pk)]


# --- cancel and retry -------------------------------------------------------------------------


def test_cancel_action_calls_the_service_and_reports_refusals(client: Client) -> None:
    queued, running, completed = job_in_status("queued"), job_in_status("running"), job_in_status("completed")
    before = snapshot(completed)
    response = act(client, "cancel_selected", [queued, running, completed])
    assert response.status_code == 302
    notes = messages_of(response)
    assert ("success", "Cancelled 1 job(s). Asked 1 running job(s) to stop at their next progress report.") in notes
    assert ("error", f"Could not cancel 1 job(s): job {completed.pk} is completed and cannot become cancelled") in notes
    assert Job.objects.get(pk=queued.pk).status == "cancelled"
    running.refresh_from_db()
    assert running.status == "running" and running.cancel_requested_at is not None
    assert snapshot(completed) == before


def test_retry_action_requeues_failed_and_cancelled_and_refuses_running(client: Client) -> None:
    failed, cancelled, running = job_in_status("failed"), job_in_status("cancelled"), job_in_status("running")
    before = snapshot(running)
    response = act(client, "retry_selected", [failed, cancelled, running])
    notes = messages_of(response)
    assert ("success", "Queued 2 job(s) again.") in notes
    assert ("error", f"Could not retry 1 job(s): job {running.pk} is running and cannot become queued") in notes
    for job in (failed, cancelled):
        job.refresh_from_db()
        assert (job.status, job.error, job.completed_at) == ("queued", "", None)
    assert snapshot(running) == before


def test_actions_call_the_services(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def spy(name: str, real: Any) -> Any:
        def service(*, job_id: Any, by: Any) -> Job:
            calls.append((name, job_id, by.label, by.source))
            return real(job_id=job_id, by=by)

        return service

    monkeypatch.setattr(services, "job_cancel", spy("cancel", services.job_cancel))
    monkeypatch.setattr(services, "job_retry", spy("retry", services.job_retry))
    queued, failed = job_in_status("queued"), job_in_status("failed")
    act(client, "cancel_selected", [queued])
    act(client, "retry_selected", [failed])
    assert calls == [("cancel", queued.pk, "ops", "admin"), ("retry", failed.pk, "ops", "admin")]


def test_per_object_cancel_and_retry_buttons(client: Client) -> None:
    job = job_in_status("queued")
    cancel = reverse("admin:jobs_job_cancel", args=[job.pk])
    assert client.get(cancel).status_code == 405
    response = client.post(cancel)
    assert response.status_code == 302 and response["Location"] == change_url(job)
    assert Job.objects.get(pk=job.pk).status == "cancelled"
    response = client.post(reverse("admin:jobs_job_retry", args=[job.pk]))
    assert Job.objects.get(pk=job.pk).status == "queued"
    # a second retry is refused with the transition's message, and the job stays as it is
    response = client.post(reverse("admin:jobs_job_retry", args=[job.pk]))
    refusal = f"Could not retry 1 job(s): job {job.pk} is queued and cannot become queued"
    assert ("error", refusal) in messages_of(response)


def test_cancel_button_posts_with_the_change_forms_csrf_token(superuser: Any) -> None:
    """The button lives in the change page's own form: a browser posts that form, CSRF token
    included, to the button's formaction."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(superuser)
    job = job_in_status("running")
    page = browser.get(change_url(job)).content.decode()
    form = re.search(r'<form [^>]*id="job_form".*?</form>', page, re.DOTALL)
    assert form is not None
    button = re.search(r'<button type="submit" [^>]*formaction="([^"]+)"[^>]*>Cancel job', form.group(0))
    assert button is not None
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(0))
    assert token is not None
    assert browser.post(button.group(1), {"csrfmiddlewaretoken": token.group(1)}).status_code == 302
    assert Job.objects.get(pk=job.pk).cancel_requested_at is not None
    assert browser.post(button.group(1)).status_code == 403  # and without the token, nothing


def test_per_object_action_on_an_unknown_job(client: Client) -> None:
    missing = uuid.uuid4()
    response = client.post(reverse("admin:jobs_job_cancel", args=[missing]))
    assert ("error", f"Could not cancel 1 job(s): job {missing} does not exist") in messages_of(response)


# --- nothing in the admin writes a Job ---------------------------------------------------------


def test_no_add_change_or_delete(client: Client) -> None:
    job = job_in_status("queued")
    before = snapshot(job)
    assert client.get(reverse("admin:jobs_job_add")).status_code == 403
    assert client.post(change_url(job), {"status": "completed", "priority": 1, "_save": "Save"}).status_code == 403
    assert client.post(reverse("admin:jobs_job_delete", args=[job.pk]), {"post": "yes"}).status_code == 403
    response = act(client, "delete_selected", [job])
    assert snapshot(job) == before
    assert response.status_code in (200, 302)


def test_view_only_staff_sees_jobs_but_cannot_cancel(django_user_model: Any) -> None:
    viewer = django_user_model.objects.create_user(username="viewer", password=None, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_job"))
    client = Client()
    client.force_login(viewer)
    job = job_in_status("queued")
    page = client.get(CHANGELIST).content.decode()
    assert str(job.pk)[:8] in page and "Cancel selected jobs" not in page
    assert reverse("admin:jobs_job_cancel", args=[job.pk]) not in client.get(change_url(job)).content.decode()
    assert client.post(reverse("admin:jobs_job_cancel", args=[job.pk])).status_code == 403
    act(client, "cancel_selected", [job])
    assert Job.objects.get(pk=job.pk).status == "queued"


# --- counting a large table ----------------------------------------------------------------------


def test_paginator_uses_the_estimate_only_for_an_unfiltered_large_table(monkeypatch: pytest.MonkeyPatch) -> None:
    job_in_status("queued")
    job_in_status("completed")
    monkeypatch.setattr(jobs_admin.counting, "estimated_row_count", lambda model, using="default": 2_000_000)
    unfiltered = jobs_admin.EstimatedCountPaginator(Job.objects.all(), 50)
    with CaptureQueriesContext(connection) as queries:
        assert unfiltered.count == 2_000_000
    assert not any("COUNT(" in q["sql"].upper() for q in queries)
    assert jobs_admin.EstimatedCountPaginator(Job.objects.filter(status="queued"), 50).count == 1
    # a small estimate is not trusted: a real count is cheap there
    monkeypatch.setattr(jobs_admin.counting, "estimated_row_count", lambda model, using="default": 10)
    assert jobs_admin.EstimatedCountPaginator(Job.objects.all(), 50).count == 2


def test_estimated_row_count_on_this_database() -> None:
    estimate = jobs_admin.estimated_row_count(Job)
    if connection.vendor == "postgresql":
        assert estimate is None or estimate >= 0  # None until the table was first analyzed
    else:
        assert estimate is None


def test_changelist_does_not_run_the_full_count(client: Client) -> None:
    job_in_status("queued")
    with CaptureQueriesContext(connection) as queries:
        client.get(CHANGELIST, {"status__exact": "queued"})
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1  # the filtered count of the paginator; no second "of N total" count


# --- tenancy pages ------------------------------------------------------------------------------


def test_tenancy_pages_render(client: Client) -> None:
    org = Organization.objects.create(name="Acme", slug="acme")
    Project.objects.create(name="Reports", organization=org)
    for name in ("organization", "membership", "project"):
        assert client.get(reverse(f"admin:jobs_{name}_changelist")).status_code == 200
    assert client.get(reverse("admin:jobs_organization_change", args=[org.pk])).status_code == 200
