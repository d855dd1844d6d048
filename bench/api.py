"""API and admin response times at large tables, for `make bench`.

Rows come from `manage.py seed_jobs` (COPY on PostgreSQL); requests go through Django's test
client in this process, so the figures are the server's time without the network.
"""
from __future__ import annotations

import time
from typing import Any

REQUESTS = 30


def _timed(client: Any, url: str) -> list[float]:
    client.get(url)  # warm the caches and the plan
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = client.get(url)
        times.append(1000 * (time.perf_counter() - started))
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
    return times


def _pct(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def measure(args: Any, bench: Any) -> dict[str, dict[str, float]]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from jobs.models import Job, Organization, Project

    bench.reset()
    staff, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True,
                                                                                        "is_superuser": True})
    client = Client()
    client.force_login(staff)
    results: dict[str, dict[str, float]] = {}
    for rows in sorted(int(n) for n in args.api_rows.split(",")):
        have = Job.objects.count()
        if rows > have:
            call_command("seed_jobs", count=rows - have, verbosity=0)
        org = Organization.objects.filter(slug="seed-org-1").first()
        project = Project.objects.filter(organization=org).first()
        assert org is not None and project is not None, "seed_jobs makes seed-org-1 and its projects"
        user = get_user_model().objects.get(username="seed-user-3")
        urls = {
            "GET /api/jobs (default)": "/api/jobs",
            "GET /api/jobs?statuses=failed": "/api/jobs?statuses=failed",
            "GET /api/jobs?types=demo.flaky": "/api/jobs?types=demo.flaky",
            "GET /api/jobs?userId=": f"/api/jobs?userId={user.pk}",
            "GET /api/jobs?orgId=": f"/api/jobs?orgId={org.pk}",
            "GET /api/jobs?projectId=": f"/api/jobs?projectId={project.pk}",
            "GET /api/jobs?createdAfter=": "/api/jobs?createdAfter=2000-01-01",
            "GET /api/jobs/projects/{id}/stats": f"/api/jobs/projects/{project.pk}/stats",
            "GET /api/v1/orgs/{id}/jobs/stats": f"/api/v1/orgs/{org.pk}/jobs/stats",
            "admin job list page": "/admin/jobs/job/",
        }
        if rows < 1_000_000 and len(args.api_rows.split(",")) > 1:  # its target is at a million rows
            del urls["admin job list page"]
        _measure_urls(client, urls, rows, results)
        # the same lists as most API users see them: a member of one organization (their own
        # jobs and their organization's), not staff
        own_org_id = user.memberships.values_list("organization", flat=True).first()
        assert own_org_id is not None, "seed_jobs makes every seed user a member"
        own_project = Project.objects.filter(organization_id=own_org_id).first()
        assert own_project is not None, "seed_jobs gives every organization projects"
        member_urls = {
            "GET /api/jobs (default), member": "/api/jobs",
            "GET /api/jobs?statuses=failed, member": "/api/jobs?statuses=failed",
            "GET /api/jobs?types=demo.flaky, member": "/api/jobs?types=demo.flaky",
            "GET /api/jobs?projectId=, member": f"/api/jobs?projectId={own_project.pk}",
            "GET /api/jobs/projects/{id}/stats, member": f"/api/jobs/projects/{own_project.pk}/stats",
        }
        member = Client()
        member.force_login(user)
        _measure_urls(member, member_urls, rows, results)
    return results


def _measure_urls(client: Any, urls: dict[str, str], rows: int, results: dict[str, dict[str, float]]) -> None:
    """p50 and p95 of each URL for `client`, into `results` under "<label> pNN at <rows> rows"."""
    for label, url in urls.items():
        times = _timed(client, url)
        for pct in (50, 95):
            results[f"{label} p{pct} at {rows:,} rows, ms"] = _stat(_pct(times, pct))


def _stat(value: float) -> dict[str, float]:
    return {"median": value, "min": value, "max": value}
