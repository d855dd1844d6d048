"""The failure groups page: one row per kind of error with its count, times and types, links to
its jobs and to the job list's bulk retry and cancel for the group, shown by permission."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from jobs import services
from jobs.models import Job
from jobs.operator_groups import OPERATORS, READ_ONLY
from tests.factories import job_in_status, make_user

pytestmark = pytest.mark.django_db


def fail(job_type: str, error: str, retry: bool = False) -> None:
    job = job_in_status("running", type=job_type)
    services.job_fail(job=Job.objects.get(pk=job.pk), error=error, retry=retry)


def browser_for(group: str) -> Client:
    user = make_user(group.split()[0].lower(), is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def test_groups_are_listed_largest_first_with_links_to_their_jobs_and_bulk_actions():
    for n in range(3):
        fail("demo.sleep", f"ValueError: customer {n} not found")
    fail("demo.sleep", "ValueError: customer 77 not found", retry=True)  # waits to retry
    fail("test.flaky_fast", "OSError: disk full")
    page = browser_for(OPERATORS).get("/admin/console/failures/")
    assert page.status_code == 200
    html = page.content.decode()
    rows = re.findall(r'<tr data-group="(\w+)">(.*?)</tr>', html, re.S)
    assert len(rows) == 2
    first_key, first = rows[0]
    assert "ValueError: customer &lt;n&gt; not found" in first and "demo.sleep (3)" in first
    assert re.search(r"data-count>3<", first)
    links = dict(re.findall(r'href="([^"]+)"[^>]*>(Retry all…|Cancel waiting retries…)', first))
    retry = next(url for url, text in links.items() if text == "Retry all…")
    parsed = urlparse(retry.replace("&amp;", "&"))
    assert parsed.path == "/admin/jobs/job/bulk/retry/"
    assert parse_qs(parsed.query)["q"] == [f"group:{first_key} status:failed"]
    assert any(text == "Cancel waiting retries…" for text in links.values())
    assert "OSError: disk full" in rows[1][1] and "Cancel waiting retries" not in rows[1][1]


def test_a_read_only_operator_sees_the_groups_but_no_action_and_a_bad_period_falls_back():
    fail("demo.sleep", "OSError: disk full")
    page = browser_for(READ_ONLY).get("/admin/console/failures/?since=forever")
    assert page.status_code == 200
    assert b"OSError: disk full" in page.content and b"Retry all" not in page.content
    assert b"<strong>7d</strong>" in page.content
    assert browser_for(OPERATORS).get("/admin/console/failures/?since=1h").status_code == 200


def test_people_who_may_not_view_jobs_are_refused():
    user = make_user("visitor", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get("/admin/console/failures/").status_code == 403
    assert Client().get("/admin/console/failures/").status_code == 302  # to the login page


def test_a_groups_links_find_exactly_its_jobs_in_the_job_list():
    for n in range(2):
        fail("demo.sleep", f"ValueError: customer {n} not found")
    fail("demo.sleep", "OSError: disk full")
    (key,) = set(Job.objects.filter(error__startswith="ValueError").values_list("error_group", flat=True))
    page = browser_for(OPERATORS).get("/admin/jobs/job/", {"q": f"group:{key} status:failed"})
    assert page.status_code == 200
    listed = set(re.findall(r"/admin/jobs/job/([0-9a-f-]{36})/change/", page.content.decode()))
    assert listed == {str(pk) for pk in Job.objects.filter(error_group=key).values_list("pk", flat=True)}
    preview = browser_for(READ_ONLY).get("/admin/jobs/job/bulk/retry/", {"q": f"group:{key} status:failed"})
    assert preview.status_code == 403
