"""The overview page: staff see the counts of a known set of jobs (live and from the time
buckets), with paused queues and types marked; others are sent to the login page; the admin's
index links to it first; the page is served from the shared readings, so ten viewers in a row
cost one computation and no query of the jobs table after the first."""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from console import overview, rollup
from jobs.models import Pause
from telemetry import redis_client
from tests.factories import make_job, make_user

pytestmark = pytest.mark.django_db

URL = reverse("console:overview")


@pytest.fixture(autouse=True)
def fresh_redis() -> Iterator[None]:
    """No shared reading, worker or beat record left by another test (this suite's own Redis db)."""
    redis_client.client().flushdb()
    yield
    redis_client.client().flushdb()


@pytest.fixture
def staff_client(django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser(username="ops", email="ops@example.com", password=None)
    client = Client()
    client.force_login(user)
    return client


def known_jobs() -> None:
    """On queue default, type demo.sleep: 2 due, 1 delayed, 1 running, 3 completed and 1 failed a
    minute ago, 1 completed 3 hours ago; on attachments, demo.fail: 1 failed 2 hours ago."""
    now = timezone.now()
    for _ in range(2):
        make_job("queued")
    make_job("queued", run_at=now + timedelta(hours=1))
    make_job("running")
    for _ in range(3):
        make_job("completed", started_at=now - timedelta(seconds=62), completed_at=now - timedelta(seconds=60),
                 actual_duration=2.0)
    make_job("failed", started_at=now - timedelta(seconds=61), completed_at=now - timedelta(seconds=60),
             actual_duration=1.0)
    make_job("completed", completed_at=now - timedelta(hours=3), actual_duration=1.0)
    make_job("failed", queue="attachments", type="demo.fail", completed_at=now - timedelta(hours=2))
    while rollup.rollup_minutes().through < rollup.floor_minute(now):
        pass  # the first pass starts 24 hours back and catches up an hour a pass


def cells(html: str, attribute: str, name: str) -> dict[str, str]:
    """The data-col cells of the table row marked attribute="name", as text."""
    row = re.search(rf'<tr {attribute}="{re.escape(name)}".*?</tr>', html, re.S)
    assert row is not None, f"no row {attribute}={name!r}"
    found = re.findall(r'data-col="([a-z_0-9]+)">(.*?)</td>', row.group(0), re.S)
    return {column: re.sub(r"<[^>]+>", "", text).strip() for column, text in found}


def test_staff_see_the_counts_of_a_known_set_of_jobs(staff_client: Client) -> None:
    known_jobs()
    response = staff_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    default = cells(html, "data-queue", "default")
    assert {key: default[key] for key in ("queued_due", "queued_delayed", "running", "completed_1h",
                                          "completed_24h", "failed_1h", "failed_24h")} == {
        "queued_due": "2", "queued_delayed": "1", "running": "1", "completed_1h": "3", "completed_24h": "4",
        "failed_1h": "1", "failed_24h": "1"}
    attachments = cells(html, "data-queue", "attachments")
    assert (attachments["failed_1h"], attachments["failed_24h"]) == ("0", "1")
    sleep = cells(html, "data-type", "demo.sleep")
    assert [sleep[key] for key in ("queued_due", "running", "completed_1h", "completed_24h")] == ["2", "1", "3", "4"]
    # percentiles of the runs: 3 of 2 s, 2 of 1 s: the median in the 1-2.5 s bucket
    assert sleep["run"].split(" / ")[0].endswith("s") and sleep["wait"] != "- / - / -"
    # the charts' data, and the link to the job list the chart's zoom fills in
    assert 'id="console-series"' in html and 'data-jobs-url="/admin/jobs/job/"' in html
    assert "data-live-control" in html and "console/live.js" in html and "uPlot.iife.min.js" in html


def test_paused_queues_and_types_carry_a_badge(staff_client: Client, django_user_model: Any) -> None:
    make_job("queued", queue="attachments", type="demo.fail")
    Pause.objects.create(kind="queue", name="attachments", reason="disk full", paused_by_name="ops")
    Pause.objects.create(kind="type", name="demo.sleep", paused_by_name="ops",
                         until=timezone.now() + timedelta(hours=1))
    Pause.objects.create(kind="type", name="demo.fail", until=timezone.now() - timedelta(minutes=1))  # ended
    html = staff_client.get(URL).content.decode()
    row = re.search(r'<tr data-queue="attachments".*?</tr>', html, re.S)
    assert row and "console-badge-paused" in row.group(0) and "disk full" in row.group(0)
    sleep = re.search(r'<tr data-type="demo.sleep".*?</tr>', html, re.S)
    assert sleep and "console-badge-paused" in sleep.group(0)
    fail = re.search(r'<tr data-type="demo.fail".*?</tr>', html, re.S)
    assert fail and "console-badge-paused" not in fail.group(0)


def test_anonymous_and_non_staff_users_are_sent_to_the_login_page() -> None:
    client = Client()
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    client.force_login(make_user("someone"))
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_staff_without_the_permission_to_view_jobs_are_refused() -> None:
    user = make_user("clerk", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get(URL).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_job", content_type__app_label="jobs"))
    client.force_login(user)
    assert client.get(URL).status_code == 200


def test_the_admin_index_links_to_the_overview_first(staff_client: Client) -> None:
    html = staff_client.get(reverse("admin:index")).content.decode()
    link = html.find(f'href="{URL}"')
    assert link != -1 and "console-entry" in html
    assert link < html.find('id="content-main"'), "the overview's link comes before the apps"


def test_ten_viewers_in_a_row_cost_one_computation(monkeypatch: pytest.MonkeyPatch, django_user_model: Any) -> None:
    known_jobs()
    computed = []
    real = overview.compute_overview

    def counted() -> dict[str, Any]:
        computed.append(1)
        return real()

    monkeypatch.setattr(overview, "compute_overview", counted)
    clients = []
    for index in range(10):
        client = Client()
        client.force_login(django_user_model.objects.create_superuser(username=f"viewer{index}", password=None))
        clients.append(client)
    with CaptureQueriesContext(connection) as first:
        assert clients[0].get(URL).status_code == 200
    with CaptureQueriesContext(connection) as others:
        for client in clients[1:]:
            assert client.get(URL).status_code == 200
    assert len(computed) == 1

    def reads_jobs(queries: Any) -> list[str]:
        return [q["sql"] for q in queries if '"jobs_job"' in q["sql"] or '"console_jobminute"' in q["sql"]]
    assert reads_jobs(first.captured_queries), "the first viewer computes the readings"
    assert reads_jobs(others.captured_queries) == [], "the nine others read them from Redis"
