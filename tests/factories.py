"""Small factories for tests. Tests may put a row in any state directly: that is set-up,
not a transition; the transitions under test go through jobs.services."""
from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs import services
from jobs.models import Job, Membership, Organization, Project

_seq = itertools.count(1)


def make_user(username: str | None = None, **fields: Any):
    username = username or f"user{next(_seq)}"
    return get_user_model().objects.create_user(username=username, password="pw-" + username, **fields)


def make_org(name: str | None = None) -> Organization:
    n = next(_seq)
    return Organization.objects.create(name=name or f"Org {n}", slug=f"org-{n}")


def make_membership(user, org: Organization, role: str = Membership.Role.MEMBER) -> Membership:
    return Membership.objects.create(user=user, organization=org, role=role)


def make_project(org: Organization | None = None, name: str | None = None) -> Project:
    return Project.objects.create(organization=org, name=name or f"Project {next(_seq)}")


def make_job(status: str = "queued", **fields: Any) -> Job:
    """A Job row in the given status, as set-up for a test (no message is published)."""
    now = timezone.now()
    defaults: dict[str, Any] = {"type": "demo.sleep", "input": {}, "queued_at": now, "dispatched_at": now}
    if status in ("running", "completed", "failed", "cancelled"):
        defaults.update(started_at=now, attempts=1, heartbeat_at=now if status == "running" else None)
    if status in ("completed", "failed", "cancelled"):
        defaults["completed_at"] = now
    defaults.update(fields)
    return Job.objects.create(status=status, **defaults)


def job_in_status(status: str = "queued", *, type: str = "demo.sleep", **create: Any) -> Job:
    """A job brought to `status` through the services, as a worker would, without one."""
    create.setdefault("input", {"seconds": 0})
    job = services.job_create(type=type, **create).job
    if status == "cancelled":
        services.job_cancel(job_id=job.pk)
    elif status != "queued":
        claimed = services.job_claim(job_id=job.pk, token=job.token, worker="celery@test-host")
        assert claimed is not None
        if status == "completed":
            services.job_complete(job=claimed, result={"ok": True})
        elif status == "failed":
            services.job_fail(
                job=claimed, error="boom: the disk is full",
                traceback="Traceback (most recent call last):\nOSError: boom", retry=False,
            )
        else:
            assert status == "running", status
    return Job.objects.get(pk=job.pk)


def publishes(callbacks: list[Any]) -> list[Any]:
    """The on-commit callbacks that publish, without the metrics and signals that the services
    also report after the commit (`jobs.services.reporting.WhenCommitted`)."""
    from jobs.services.reporting import WhenCommitted

    return [callback for callback in callbacks if not isinstance(callback, WhenCommitted)]
