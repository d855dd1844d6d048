"""Small factories for tests. Tests may put a row in any state directly: that is set-up,
not a transition; the transitions under test go through jobs.services."""
from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

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
