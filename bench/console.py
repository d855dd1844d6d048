"""The operators' console at a large table, for `make bench`: each page's p50 and p95, and what
ten viewers refreshing the overview together cost the database.

Rows come from `manage.py seed_jobs` (as for the API's figures). Pages go through Django's test
client in this process: the server's time, without the network.

The viewers' cost is counted with PostgreSQL's statistics: the scans of the jobs table
(`pg_stat_user_tables`) while ten viewers each load the overview every 2 s, divided by the scans
that one computation of the shared reading makes, per refresh interval. The target: at most one
computation per interval, however many viewers.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from bench.api import _measure_urls, _stat

VIEWERS = 10
VIEW_EVERY = 2.0
VIEW_FOR = 30.0


def measure(args: Any, bench: Any) -> dict[str, dict[str, float]]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from console.rollup import rollup_minutes
    from jobs.models import Job, Organization, Project

    rows = max(int(n) for n in args.api_rows.split(","))
    have = Job.objects.count()
    if rows > have:
        call_command("seed_jobs", count=rows - have, verbosity=0)
    rollup_minutes()  # the console's buckets for the last hour, as beat's schedule keeps them
    staff, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True,
                                                                                        "is_superuser": True})
    client = Client()
    client.force_login(staff)
    org = Organization.objects.get(slug="seed-org-1")
    project = Project.objects.filter(organization=org).first()
    assert project is not None, "seed_jobs gives every organization projects"
    failed = Job.objects.filter(status="failed").values_list("pk", flat=True).first()
    queued = Job.objects.filter(status="queued").values_list("pk", flat=True).first()
    prefix = str(Job.objects.values_list("pk", flat=True).first())[:6]
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    urls = {
        "console overview": "/admin/console/",
        "console failure groups (7 days)": "/admin/console/failures/",
        "console failure groups (all)": "/admin/console/failures/?since=all",
        "job list (default)": "/admin/jobs/job/",
        "job list q=type:": "/admin/jobs/job/?q=type:demo.flaky",
        "job list q=status:": "/admin/jobs/job/?q=status:failed",
        "job list q=queue:": "/admin/jobs/job/?q=queue:default",
        "job list q=<id prefix>": f"/admin/jobs/job/?q={prefix}",
        "job list q=dedup:": "/admin/jobs/job/?q=dedup:attachment-42",
        "job list q=error:": "/admin/jobs/job/?q=error:timeout",
        "job list q=input.customer_id=": "/admin/jobs/job/?q=input.customer_id%3D42",
        "job list q=org:": "/admin/jobs/job/?q=org:seed-org-1",
        "job list q=project:": f"/admin/jobs/job/?q=project:{project.pk}",
        "job list q=by:": "/admin/jobs/job/?q=by:seed-user-3",
        "job list created in the last 24 h": f"/admin/jobs/job/?created__gte={since}&created__lt={until}",
        "job list q=status:failed type:": "/admin/jobs/job/?q=status:failed+type:demo.flaky",
        "job page (failed)": f"/admin/jobs/job/{failed}/change/",
        "job page (queued, why it waits)": f"/admin/jobs/job/{queued}/change/",
    }
    results: dict[str, dict[str, float]] = {}
    _measure_urls(client, urls, rows, results)
    from django.db import connection

    if connection.vendor == "postgresql":  # counted from PostgreSQL's statistics
        results.update(viewers_cost(client, rows, args.console_viewing))
    return results


def _scans() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
                       "WHERE relname = 'jobs_job'")
        return int(cursor.fetchone()[0])


def _settled_scans() -> int:
    time.sleep(0.7)  # other backends flush their statistics about every second
    return _scans()


def viewers_cost(client: Any, rows: int, view_for: float = VIEW_FOR) -> dict[str, dict[str, float]]:
    """Ten viewers, each loading the overview every VIEW_EVERY seconds for `view_for` seconds."""
    from django.conf import settings
    from django.test import Client

    from console.overview import CACHE_KEY
    from observability import gauges
    from telemetry import redis_client

    interval = float(settings.JOBS_CONSOLE_REFRESH_SECONDS)
    # one cold computation, alone: what the overview's reading and the gauges' reading scan
    redis_client.client().delete(CACHE_KEY, gauges.CACHE_KEY)
    before = _settled_scans()
    client.get("/admin/console/")
    per_computation = max(1, _settled_scans() - before)
    staff = client.session.get("_auth_user_id")
    stop = time.monotonic() + view_for
    errors: list[str] = []

    def viewer() -> None:
        from django.contrib.auth import get_user_model
        from django.db import connection

        browser = Client()
        browser.force_login(get_user_model().objects.get(pk=staff))
        try:
            while time.monotonic() < stop:
                started = time.monotonic()
                if browser.get("/admin/console/").status_code != 200:
                    errors.append("a viewer's page did not answer 200")
                time.sleep(max(0.0, VIEW_EVERY - (time.monotonic() - started)))
        finally:
            connection.close()

    before = _settled_scans()
    threads = [threading.Thread(target=viewer) for _ in range(VIEWERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    scans = _settled_scans() - before
    if errors:
        raise RuntimeError(errors[0])
    computations = scans / per_computation
    intervals = view_for / interval if interval > 0 else view_for / VIEW_EVERY
    label = f"{VIEWERS} viewers every {VIEW_EVERY:g} s"
    return {
        f"{label}: overview computations per refresh interval at {rows:,} rows": _stat(computations / intervals),
        f"{label}: jobs-table scans per refresh interval at {rows:,} rows": _stat(scans / intervals),
    }
