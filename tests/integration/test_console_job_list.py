"""The job list of the console (/admin/jobs/job/): badges and progress bars, the search (each key,
combined, the time range, bad words shown on the page), the bound on filters without an index,
the capped count, live refresh markup, and bulk actions on a selection or on everything that
matches, with their preview, cap, reason and grouped refusals. On PostgreSQL, EXPLAIN shows that
the id prefix, the type and the status are read through an index, and a text search through the
created_at range it is bounded to."""
from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from jobs.admin import job_list
from jobs.models import Job
from jobs.operator_groups import OPERATORS, READ_ONLY
from tests.factories import job_in_status, make_job, make_org, make_project, make_user

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:jobs_job_changelist")


def bulk_page(action: str) -> str:
    return reverse("admin:jobs_job_bulk", args=[action])


@pytest.fixture
def superuser(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser(username="ops", email="ops@example.com", password=None)


@pytest.fixture
def client(superuser: Any) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def staff_with(*codenames: str, name: str = "staffer") -> Any:
    user = make_user(name, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="jobs", codename__in=codenames))
    return user


def listed(response: Any) -> list[uuid.UUID]:
    assert response.status_code == 200, response.content[:500]
    return [job.pk for job in response.context["cl"].result_list]


def found(client: Client, q: str = "", **params: str) -> set[uuid.UUID]:
    return set(listed(client.get(CHANGELIST, {"q": q, **params} if q else params)))


def page_text(response: Any) -> str:
    return response.content.decode()


def notes(response: Any) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def ago(**delta: float) -> datetime:
    return timezone.now() - timedelta(**delta)


# --- the rows ---------------------------------------------------------------------------------------


def test_badges_progress_bars_and_newest_first(client: Client) -> None:
    old = make_job("failed", created_at=ago(hours=2), error="boom")
    running = make_job("running", created_at=ago(minutes=5), progress=40, progress_message="page 4 of 10")
    stopping = make_job("running", created_at=ago(minutes=1), cancel_requested_at=timezone.now())
    response = client.get(CHANGELIST)
    assert listed(response) == [stopping.pk, running.pk, old.pk]
    page = page_text(response)
    assert '<span class="job-status job-status-failed">Failed</span>' in page
    assert '<span class="job-status job-status-running">Running</span>' in page
    assert 'class="job-status job-status-stopping"' in page
    # the bar, its percentage, and the handler's message as its title
    assert re.search(r'<span class="job-progress job-progress-running" title="page 4 of 10">'
                     r'<progress max="100" value="40">40%</progress>', page)


def test_only_indexed_columns_sort_and_nothing_counts_the_table(client: Client) -> None:
    response = client.get(CHANGELIST)
    assert set(response.context["cl"].sortable_by) == {"short_id", "created_at"}
    # no "N total" and no counts per filter choice
    assert "Show counts" not in page_text(response) and " total)" not in page_text(response)


# --- search: each key ---------------------------------------------------------------------------------


def test_search_by_id_whole_prefix_and_several(client: Client) -> None:
    a, b, c = make_job(), make_job(), make_job()
    assert found(client, str(a.pk)) == {a.pk}
    assert found(client, a.pk.hex.upper()) == {a.pk}
    assert found(client, str(b.pk)[:8]) == {b.pk}
    assert found(client, f"id:{str(b.pk)[:6]},{str(c.pk)[:6]}") == {b.pk, c.pk}
    assert found(client, str(b.pk)[:11]) == {b.pk}  # with its first dash, as the job page shows it


def test_search_by_type_status_and_queue(client: Client) -> None:
    sleep_failed = make_job("failed", type="demo.sleep")
    flaky_failed = make_job("failed", type="demo.flaky", queue="bulk")
    flaky_queued = make_job("queued", type="demo.flaky")
    assert found(client, "type:demo.flaky") == {flaky_failed.pk, flaky_queued.pk}
    assert found(client, "status:failed") == {sleep_failed.pk, flaky_failed.pk}
    assert found(client, "status:error") == {sleep_failed.pk, flaky_failed.pk}  # an alias
    assert found(client, "type:demo.flaky status:failed") == {flaky_failed.pk}
    assert found(client, "status:failed,queued type:demo.flaky") == {flaky_failed.pk, flaky_queued.pk}
    assert found(client, "queue:bulk") == {flaky_failed.pk}
    # the sidebar's parameters and the overview's links
    assert found(client, queue="bulk") == {flaky_failed.pk}
    assert found(client, status="failed", queue="bulk") == {flaky_failed.pk}
    assert found(client, type="demo.sleep") == {sleep_failed.pk}


def test_search_by_dedup_key_and_error_text(client: Client) -> None:
    a = make_job("queued", dedup_key="attachment-42")
    b = make_job("failed", dedup_key="attachment-420", error="OSError: Disk full on /var")
    make_job("failed", error="timeout")
    assert found(client, "dedup:attachment-42") == {a.pk}
    assert found(client, "dedup:attachment-42*") == {a.pk, b.pk}
    assert found(client, 'error:"disk full"') == {b.pk}
    assert found(client, "error:DISK error:var") == {b.pk}
    assert found(client, 'error:"disk full" dedup:attachment-42') == set()


def test_search_by_input_field_as_a_user_means_it(client: Client) -> None:
    number = make_job(input={"customer_id": 42, "address": {"city": "Lyon"}})
    text = make_job(input={"customer_id": "42", "express": True})
    other = make_job(input={"customer_id": 420, "contains": 1, "note": None})
    assert found(client, "input.customer_id=42") == {number.pk, text.pk}
    assert found(client, 'input.customer_id="42"') == {text.pk}
    assert found(client, "input.customer_id:420") == {other.pk}
    assert found(client, "input.address.city=Lyon") == {number.pk}
    assert found(client, "input.express=true") == {text.pk}
    assert found(client, "input.contains=1") == {other.pk}  # a field, not the JSON lookup
    assert found(client, "input.note=null") == {other.pk}
    assert found(client, "input.customer_id=42 input.express=true") == {text.pk}
    assert found(client, "input.missing=1") == set()


def test_search_by_organization_project_and_creator(client: Client) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    acme, other = make_org("Acme"), make_org("Other")
    project = make_project(acme)
    mine = make_job(created_by=alice, organization=acme, project=project)
    theirs = make_job(created_by=bob, organization=other)
    assert found(client, f"org:{acme.slug}") == {mine.pk}
    assert found(client, f"org:{other.pk}") == {theirs.pk}
    assert found(client, f"project:{project.pk}") == {mine.pk}
    assert found(client, "by:bob") == {theirs.pk}
    assert found(client, "by:alice,bob") == {mine.pk, theirs.pk}
    assert found(client, f"by:alice org:{other.slug}") == set()


def test_every_key_combines_in_one_search(client: Client) -> None:
    alice = make_user("alice")
    acme = make_org("Acme")
    project = make_project(acme)
    wanted = make_job("failed", type="demo.flaky", queue="bulk", dedup_key="attachment-42", error="disk full",
                      input={"customer_id": 42}, created_by=alice, organization=acme, project=project,
                      created_at=ago(minutes=30))
    make_job("failed", type="demo.flaky", queue="bulk", dedup_key="attachment-43", error="disk full",
             input={"customer_id": 42}, created_by=alice, organization=acme, project=project)
    q = (f'{str(wanted.pk)[:8]} type:demo.flaky status:failed queue:bulk dedup:attachment-42 error:"disk full" '
         f"input.customer_id=42 org:{acme.slug} project:{project.pk} by:alice")
    assert found(client, q, created__gte=ago(hours=1).isoformat(), created__lt=timezone.now().isoformat()) == {
        wanted.pk}


# --- the time range ---------------------------------------------------------------------------------


def test_time_range_from_the_url_shown_and_cleared(client: Client) -> None:
    now = timezone.now().replace(microsecond=0)
    old = make_job(created_at=now - timedelta(hours=3))
    mid = make_job(created_at=now - timedelta(hours=1, minutes=30))
    new = make_job(created_at=now - timedelta(minutes=5))
    since = (now - timedelta(hours=2)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    until = (now - timedelta(hours=1)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    # exactly as the overview's chart links: ISO 8601 in UTC with a Z
    response = client.get(f"{CHANGELIST}?created__gte={since}&created__lt={until}&q=status:queued")
    assert listed(response) == [mid.pk]
    page = page_text(response)
    assert 'class="job-search-range"' in page
    assert (now - timedelta(hours=2)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") in page
    clear = re.search(r'<a href="([^"]+)" class="job-search-range-clear">clear the time range</a>', page)
    assert clear is not None
    cleared = clear.group(1).replace("&amp;", "&")
    assert "created__" not in cleared and "q=status%3Aqueued" in cleared
    assert set(listed(client.get(CHANGELIST + cleared))) == {old.pk, mid.pk, new.pk}
    # either end alone
    assert found(client, created__gte=since) == {mid.pk, new.pk}
    assert found(client, created__lt=until) == {old.pk, mid.pk}
    # the sidebar's shortcut for the last hour
    assert found(client, created__gte=(now - timedelta(hours=1)).isoformat()) == {new.pk}
    assert "Last 24 hours" in page


def test_the_search_box_keeps_the_range_and_the_filters(client: Client) -> None:
    page = page_text(client.get(CHANGELIST, {"created__gte": "2024-05-01T00:00:00Z", "status__exact": "failed"}))
    form = re.search(r'<form id="changelist-search".*?</form>', page, re.DOTALL)
    assert form is not None
    assert '<input type="hidden" name="created__gte" value="2024-05-01T00:00:00Z">' in form.group(0)
    assert '<input type="hidden" name="status__exact" value="failed">' in form.group(0)


# --- bad words: a message on the page, never an error ------------------------------------------------


@pytest.mark.parametrize(("params", "says"), [
    ({"q": "colour:red"}, "unknown key &#x27;colour&#x27;"),
    ({"q": "status:sleeping"}, "unknown status &#x27;sleeping&#x27;"),
    ({"q": "zz-top"}, "&#x27;zz-top&#x27; is not a job id"),
    ({"q": "3f2"}, "too short for an id prefix"),
    ({"q": 'error:"disk'}, "a quote is not closed"),
    ({"q": "org:nowhere"}, "org:nowhere: no organization has this slug or id"),
    ({"q": "project:999999"}, "project:999999: no project has this id"),
    ({"q": "by:nobody"}, "by:nobody: no user has this username"),
    ({"created__gte": "yesterday"}, "created__gte=&#x27;yesterday&#x27; is not a date and time in ISO 8601"),
    ({"created__gte": "2024-05-02", "created__lt": "2024-05-01"}, "must be before created__lt"),
])
def test_a_bad_word_or_parameter_is_named_on_the_page(client: Client, params: dict[str, str], says: str) -> None:
    make_job()
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200
    assert listed(response) == []  # nothing rather than a broader list than asked for
    page = page_text(response)
    assert 'class="errornote job-search-problems"' in page and says in page, page[:3000]


# --- bounded reading and counting -------------------------------------------------------------------


def test_filters_without_an_index_read_the_newest_jobs_only_and_say_so(
        client: Client, settings: Any) -> None:
    settings.JOBS_CONSOLE_SCAN_ROWS = 3
    oldest = make_job("failed", error="disk full", created_at=ago(hours=5))
    newer = [make_job("failed", error="disk full" if n == 0 else "other", created_at=ago(hours=4 - n))
             for n in range(4)]
    response = client.get(CHANGELIST, {"q": 'error:"disk full"'})
    # the newest 3 jobs hold no "disk full": newer[0] is the 4th newest, oldest the 5th
    assert listed(response) == []
    page = page_text(response)
    assert "searched the newest\n    3 jobs" in page or "searched the newest 3 jobs" in " ".join(page.split())
    # a time range moves the window back
    since, until = ago(hours=6).isoformat(), ago(hours=3, minutes=30).isoformat()
    assert found(client, 'error:"disk full"', created__gte=since, created__lt=until) == {oldest.pk, newer[0].pk}
    # an indexed filter alone is not bounded, and says nothing
    response = client.get(CHANGELIST, {"q": "status:failed"})
    assert len(listed(response)) == 5 and "searched the newest" not in page_text(response)


def test_the_window_is_not_mentioned_when_every_job_fits(client: Client) -> None:
    make_job(error="disk full")
    response = client.get(CHANGELIST, {"q": "error:disk"})
    assert len(listed(response)) == 1 and "searched the newest" not in page_text(response)


def test_the_count_is_exact_up_to_the_cap_and_estimated_beyond(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(4):
        make_job("failed")
    make_job("queued")
    response = client.get(CHANGELIST, {"q": "status:failed"})
    assert response.context["cl"].result_count == 4
    assert 'data-count-exact="true">4 jobs' in page_text(response)
    monkeypatch.setattr(job_list, "COUNT_EXACT_MAX", 2)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST, {"q": "status:failed"})
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert "LIMIT 3" in counts[0]  # reads no further than the cap + 1
    count = response.context["cl"].result_count
    if connection.vendor == "postgresql":
        # then the planner's estimate (an EXPLAIN, not a count), never below what was seen
        assert len(counts) == 1
        assert count >= 3 and 'data-count-exact="false">about' in page_text(response)
    else:
        assert len(counts) == 2 and count == 4  # no estimate here: counted


# --- live refresh -------------------------------------------------------------------------------------


def test_the_list_is_marked_for_live_refresh(client: Client) -> None:
    make_job()
    page = page_text(client.get(CHANGELIST))
    assert "/static/console/live.js" in page and "/static/jobs/job_list.js" in page
    assert "admin/js/actions.js" not in page  # its handlers would not survive a refresh of the rows
    assert "data-live-control" in page
    selection = page.index("<div data-live-selection>")
    rows = page.index('<div data-live-region="job-rows">')
    assert selection < rows < page.index('id="result_list"') and 'name="_selected_action"' in page[rows:]
    assert '<div data-live-region="job-pages">' in page
    # what the refresh fetches is the same URL, so the search and its regions come back alike
    again = page_text(client.get(CHANGELIST, HTTP_X_REQUESTED_WITH="live-refresh"))
    assert '<div data-live-region="job-rows">' in again


# --- bulk: on the selected rows -------------------------------------------------------------------------


def act(client: Client, action: str, jobs: list[Job], reason: str = "") -> Any:
    return client.post(CHANGELIST, {"action": action, "_selected_action": [str(job.pk) for job in jobs],
                                    "index": "0", "select_across": "0", "reason": reason})


def test_selected_rows_go_through_the_bulk_service_with_the_reason(client: Client) -> None:
    failed, cancelled, running = make_job("failed"), make_job("cancelled"), make_job("running")
    response = act(client, "retry_selected", [failed, cancelled, running], reason="the disk is back")
    assert ("success", "Queued 2 job(s) again.") in notes(response)
    assert ("error", f"Could not retry 1 job(s): job {running.pk} is running and cannot become queued") in notes(
        response)
    summary = AuditEntry.objects.get(action="bulk.retry")
    assert (summary.actor_name, summary.source, summary.reason) == ("ops", "admin", "the disk is back")
    assert summary.outcome == "2 changed, 1 refused"
    assert set(AuditEntry.objects.filter(action="retry").values_list("reason", flat=True)) == {"the disk is back"}


def test_the_action_bar_has_a_reason_and_no_select_across(client: Client) -> None:
    Job.objects.bulk_create([Job(type="demo.sleep") for _ in range(51)])  # more than a page
    page = page_text(client.get(CHANGELIST))
    assert 'name="reason"' in page and "kept in the audit log" in page
    assert "Select all 51" not in page and 'class="question' not in page


def test_a_selection_over_the_cap_does_nothing(client: Client, settings: Any) -> None:
    settings.JOBS_CONSOLE_BULK_MAX = 2
    jobs = [make_job("queued") for _ in range(3)]
    response = act(client, "cancel_selected", jobs)
    assert any("More than 2 jobs selected: nothing was done" in text for _, text in notes(response))
    assert Job.objects.filter(status="queued").count() == 3


def test_selecting_several_jobs_needs_the_bulk_permission() -> None:
    user = staff_with("view_job", "cancel_job", name="carol")
    a, b = make_job("queued"), make_job("queued")
    response = act(signed_in(user), "cancel_selected", [a, b])
    [(level, text)] = notes(response)
    assert level == "error"
    assert text.startswith("Could not cancel 2 job(s): carol may not bulk the job: it needs the permission "
                           "&#x27;jobs.bulk_job&#x27; (")
    assert Job.objects.filter(status="queued").count() == 2
    # one job alone is not a bulk action
    act(signed_in(user), "cancel_selected", [a])
    assert Job.objects.get(pk=a.pk).status == "cancelled"


# --- bulk: everything that matches -------------------------------------------------------------------


def test_the_links_show_only_with_the_bulk_and_the_action_permission(client: Client) -> None:
    make_job("failed")
    page = page_text(client.get(CHANGELIST, {"q": "status:failed", "p": "1"}))
    assert f'href="{bulk_page("cancel")}?q=status%3Afailed"' in page
    assert f'href="{bulk_page("retry")}?q=status%3Afailed"' in page
    retry_only = staff_with("view_job", "retry_job", "bulk_job", name="rob")
    page = page_text(signed_in(retry_only).get(CHANGELIST))
    assert "Retry all matching" in page and "Cancel all matching" not in page
    no_bulk = staff_with("view_job", "retry_job", "cancel_job", name="nina")
    page = page_text(signed_in(no_bulk).get(CHANGELIST))
    assert "all matching" not in page
    # and the pages refuse them too
    assert signed_in(no_bulk).get(bulk_page("retry")).status_code == 403
    assert signed_in(retry_only).post(bulk_page("cancel"), {"reason": "x"}).status_code == 403


def test_a_read_only_operator_has_no_bulk_action_anywhere() -> None:
    rita = make_user("rita", is_staff=True)
    rita.groups.add(Group.objects.get(name=READ_ONLY))
    job = make_job("failed")
    client = signed_in(rita)
    page = page_text(client.get(CHANGELIST))
    assert str(job.pk)[:8] in page and "all matching" not in page and "Retry selected" not in page
    assert client.post(bulk_page("retry"), {"reason": "x"}).status_code == 403
    assert Job.objects.get(pk=job.pk).status == "failed"


def test_retry_all_matching_previews_asks_a_reason_and_reports(client: Client) -> None:
    targets = [make_job("failed", type="demo.flaky", error="disk full", created_at=ago(minutes=n))
               for n in range(3)]
    make_job("failed", type="demo.sleep", error="disk full")  # another type
    make_job("completed", type="demo.flaky")  # not retried: completed
    query = "q=type%3Ademo.flaky"
    page = client.get(f"{bulk_page('retry')}?{query}")
    assert page.status_code == 200
    text = page_text(page)
    assert 'data-preview-count="3"' in text and "<strong>3</strong> jobs match and are" in text
    assert "The cap is 1,000 jobs per action" in text and "<code>type:demo.flaky</code>" in text
    # no reason: nothing happens
    refused = client.post(f"{bulk_page('retry')}?{query}", {"reason": "  "})
    assert refused.status_code == 400 and "Type the reason for this action" in page_text(refused)
    assert Job.objects.filter(status="failed").count() == 4
    done = client.post(f"{bulk_page('retry')}?{query}", {"reason": "the disk was replaced"})
    assert done.status_code == 302 and done["Location"] == f"{CHANGELIST}?{query}"
    assert ("success", "Queued 3 job(s) again.") in notes(done)
    assert set(Job.objects.filter(status="queued").values_list("pk", flat=True)) == {job.pk for job in targets}
    summary = AuditEntry.objects.get(action="bulk.retry")
    assert (summary.actor_name, summary.reason) == ("ops", "the disk was replaced")
    assert summary.outcome == "3 changed, 0 refused"


def test_cancel_all_matching_over_the_cap_touches_the_newest_and_says_so(client: Client, settings: Any) -> None:
    settings.JOBS_CONSOLE_BULK_MAX = 2
    jobs = [make_job("queued", created_at=ago(minutes=n)) for n in range(3)]  # jobs[0] is the newest
    running = make_job("running", created_at=ago(minutes=10))
    text = page_text(client.get(bulk_page("cancel")))
    assert 'data-preview-count="2" data-preview-more="true"' in text and "More than <strong>2</strong> jobs" in text
    done = client.post(bulk_page("cancel"), {"reason": "draining the queue"})
    said = notes(done)
    assert ("success", "Cancelled 2 job(s).") in said
    assert any(level == "warning" and "More than 2 jobs matched" in message for level, message in said)
    assert [Job.objects.get(pk=job.pk).status for job in jobs] == ["cancelled", "cancelled", "queued"]
    # again: the rest, and the running job is asked to stop
    said = notes(client.post(bulk_page("cancel"), {"reason": "draining the queue"}))
    assert ("success", "Cancelled 1 job(s). Asked 1 running job(s) to stop at their next progress report.") in said
    assert Job.objects.get(pk=running.pk).cancel_requested_at is not None


def test_refusals_are_grouped_by_reason_with_counts_and_some_ids(client: Client) -> None:
    gone = [make_job("failed", type="retired.type", created_at=ago(minutes=n)) for n in range(7)]
    fine = make_job("failed", type="demo.sleep")
    done = client.post(f"{bulk_page('retry')}?q=status%3Afailed", {"reason": "retry everything"})
    said = notes(done)
    assert ("success", "Queued 1 job(s) again.") in said
    [(level, message)] = [note for note in said if note[0] == "error"]
    assert message.startswith("Could not retry 7 job(s): the job is failed and cannot become queued: job type "
                              "&#x27;retired.type&#x27; is not registered (")
    assert message.count('<a href="/admin/jobs/job/') == 5 and message.endswith(", and 2 more)")
    assert str(gone[0].pk)[:8] in message
    assert Job.objects.get(pk=fine.pk).status == "queued"
    summary = AuditEntry.objects.get(action="bulk.retry")
    assert summary.outcome == "1 changed, 7 refused" and len(summary.detail["refusals"]) == 7


def test_all_matching_follows_the_list_filters_range_and_bound(client: Client, settings: Any) -> None:
    settings.JOBS_CONSOLE_SCAN_ROWS = 2
    old = make_job("failed", queue="bulk", created_at=ago(hours=3))
    new = make_job("failed", queue="bulk", created_at=ago(minutes=1))
    make_job("failed", queue="default", created_at=ago(minutes=2))
    make_job("queued", queue="bulk", created_at=ago(hours=4))
    text = page_text(client.get(bulk_page("retry"), {"queue": "bulk", "status__exact": "failed"}))
    # the queue has no index: the newest 2 jobs only, and the page says so
    assert 'data-preview-count="1"' in text and "searched the newest 2" in text
    assert "queue = <code>bulk</code>" in text and "status__exact = <code>failed</code>" in text
    since = ago(hours=5).isoformat()
    client.post(f"{bulk_page('retry')}?queue=bulk&created__gte={since.replace('+', '%2B')}&created__lt="
                f"{ago(hours=2).isoformat().replace('+', '%2B')}", {"reason": "old ones"})
    assert Job.objects.get(pk=old.pk).status == "queued" and Job.objects.get(pk=new.pk).status == "failed"


def test_a_bad_search_acts_on_nothing(client: Client) -> None:
    make_job("failed")
    response = client.post(f"{bulk_page('retry')}?q=status%3Afailde", {"reason": "typo"})
    assert response.status_code == 400 and "unknown status &#x27;failde&#x27;" in page_text(response)
    assert Job.objects.get().status == "failed" and not AuditEntry.objects.exists()


def test_nothing_to_do_says_so(client: Client) -> None:
    make_job("completed")
    text = page_text(client.get(bulk_page("cancel")))
    assert 'data-preview-count="0"' in text and "nothing to cancel" in text and 'name="reason"' not in text
    assert client.get(bulk_page("explode")).status_code == 404


def test_an_operator_group_member_runs_it(django_user_model: Any) -> None:
    olga = make_user("olga", is_staff=True)
    olga.groups.add(Group.objects.get(name=OPERATORS))
    job = job_in_status("failed")
    client = signed_in(olga)
    assert "Retry all matching" in page_text(client.get(CHANGELIST))
    client.post(bulk_page("retry"), {"reason": "olga's retry"})
    assert Job.objects.get(pk=job.pk).status == "queued"
    assert AuditEntry.objects.filter(action="retry", actor_name="olga", target_id=str(job.pk)).exists()


# --- PostgreSQL: the plans ------------------------------------------------------------------------------

N_ROWS = 30_000
JOB_INDEX = re.compile(r"(Index|Index Only) Scan (Backward )?using (\S+) on jobs_job\b|Bitmap Index Scan on (\S+)")


def _populate(now: datetime) -> list[uuid.UUID]:
    """N_ROWS jobs by COPY (set-up, not transitions), then ANALYZE for the planner."""
    import random

    rng = random.Random(14)
    fields = {f.attname: f for f in Job._meta.concrete_fields}
    template = Job(type="perf", queued_at=now)
    defaults = {name: f.get_db_prep_save(getattr(template, name), connection) for name, f in fields.items()}
    names = list(fields)
    ids = []
    with connection.cursor() as cursor:
        columns = ", ".join(connection.ops.quote_name(str(fields[name].column)) for name in names)
        with cursor.cursor.copy(f"COPY jobs_job ({columns}) FROM STDIN") as copy:
            for n in range(N_ROWS):
                row = dict(defaults)
                row["id"] = uuid.UUID(int=rng.getrandbits(128))
                row["token"] = uuid.UUID(int=rng.getrandbits(128))
                row["type"] = "Rare" if n % 1000 == 7 else rng.choice(["Import", "Export", "Validation", "TestRun"])
                row["status"] = rng.choice(["queued", "running", "completed", "failed", "cancelled"])
                row["error"] = "disk full" if rng.random() < 0.01 else ""
                row["dedup_key"] = f"attachment-{n}" if n % 10 == 0 else None
                row["input"] = fields["input"].get_db_prep_save({"n": n}, connection)
                row["created_at"] = row["updated_at"] = now - timedelta(seconds=30 * n)
                ids.append(row["id"])
                copy.write_row([row[name] for name in names])
        cursor.execute("ANALYZE jobs_job")
    return ids


def _plan_of_the_page(client: Client, q: str) -> str:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST, {"q": q})
    assert response.status_code == 200 and response.context["job_search"].problems == []
    # the rows' SELECT (every column; not the count, nor the window's bound, which reads created_at)
    pages = [x["sql"] for x in queries.captured_queries
             if '"jobs_job"."progress_message"' in x["sql"] and "COUNT(" not in x["sql"].upper()]
    assert len(pages) == 1, [x["sql"] for x in queries.captured_queries]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {pages[0]}")
        return "\n".join(row[0] for row in cursor.fetchall())


def test_postgresql_reads_each_filter_through_an_index(client: Client, settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN plans are PostgreSQL's; this runs in the PostgreSQL pass")
    settings.JOBS_CONSOLE_SCAN_ROWS = 5_000
    ids = _populate(timezone.now())
    cases = {
        "id prefix": (str(ids[123])[:6], "jobs_job_pkey"),
        "whole id": (str(ids[456]), "jobs_job_pkey"),
        # a common type: the newest rows through created_at, keeping one in four
        "type": ("type:Export", None),
        # a rare one: its own index
        "rare type": ("type:Rare", "job_type_created_idx"),
        "status": ("status:failed", None),
        "type and status": ("type:Import status:queued", None),
        "error text, bounded": ('error:"disk full"', "job_created_idx"),
        "input field, bounded": ("input.n=42", "job_created_idx"),
        "dedup key": ("dedup:attachment-420", "job_dedup_key_idx"),
        "dedup key prefix": ("dedup:attachment-42*", "job_dedup_key_idx"),
    }
    for name, (q, index) in cases.items():
        plan = _plan_of_the_page(client, q)
        assert "Seq Scan on jobs_job" not in plan, f"{name}: reads the whole table\n{plan}"
        used = {match.group(3) or match.group(4) for match in JOB_INDEX.finditer(plan)}
        assert used, f"{name}: no index of jobs_job\n{plan}"
        if index is not None:
            assert index in used, f"{name}: {index} not used\n{plan}"
    # and the prefix finds its job
    assert str(ids[123]) in [str(pk) for pk in listed(client.get(CHANGELIST, {"q": str(ids[123])[:8]}))]
