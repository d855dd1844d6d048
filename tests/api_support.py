"""Fixtures and helpers shared by the API tests (tests/integration/test_api_*.py import what they use).

The cast of the permission matrix: two unrelated users A and B, an organization with a
member, an admin and a colleague who created its job, and a staff user; each signs in with
an API token of their own, sent as `Authorization: Bearer <token>`, the way clients do.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from knox.models import AuthToken
from rest_framework.test import APIClient

from jobs.models import Job, Membership, Organization, Project
from jobs.operator_groups import OPERATORS
from tests.factories import make_job, make_membership, make_org, make_project

_seq = itertools.count(1)


def make_person(username: str | None = None, **fields: Any) -> Any:
    """A user without a password (nobody here signs in with one, and hashing one takes half a
    second); sessions come from `client.force_login`."""
    username = username or f"person{next(_seq)}"
    return get_user_model().objects.create_user(username=username, password=None, **fields)


def client_for(user: Any = None) -> APIClient:
    """An API client signed in as `user` with a fresh API token (anonymous for None)."""
    client = APIClient()
    if user is not None:
        _, token = AuthToken.objects.create(user=user, expiry=None)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@dataclass
class Cast:
    users: dict[str, Any]
    org: Organization
    other_org: Organization
    project: Project
    other_project: Project
    jobs: dict[str, Job]
    clients: dict[str, APIClient] = field(default_factory=dict)

    def client(self, who: str) -> APIClient:
        if who not in self.clients:
            self.clients[who] = client_for(self.users.get(who))
        return self.clients[who]


@pytest.fixture
def relaxed_quotas(settings: Any) -> None:
    """No quota in the way of tests about something else (tests/integration/test_api_quotas.py sets its own)."""
    settings.JOBS_QUOTA_PER_MINUTE = 0
    settings.JOBS_QUOTA_PER_HOUR = 0
    settings.JOBS_QUOTA_PER_DAY = 0


@pytest.fixture
def cast(db: None) -> Cast:
    """A, B, an organization (member, admin, colleague), staff; one job each in known places.

        job_a        A's own job, outside any organization
        job_b        B's own job
        job_org      the colleague's job in the organization (and its project)
        job_other    a job of another organization that none of them belongs to
    """
    users = {
        "a": make_person("alice", first_name="Alice", last_name="Martin"),
        "b": make_person("bob"),
        "member": make_person("mona"),
        "admin": make_person("adam"),
        "colleague": make_person("carl"),
        "staff": make_person("sam", is_staff=True),
        "anonymous": None,
    }
    # staff sees every job; acting on other people's needs the operators' permissions
    users["staff"].groups.add(Group.objects.get(name=OPERATORS))
    org = make_org("Acme")
    other_org = make_org("Globex")
    make_membership(users["member"], org)
    make_membership(users["colleague"], org)
    make_membership(users["admin"], org, role=Membership.Role.ADMIN)
    project = make_project(org, name="Plant A Commissioning")
    other_project = make_project(other_org, name="Globex Rollout")
    outsider = make_person("olga")
    make_membership(outsider, other_org)
    jobs = {
        "job_a": make_job("failed", created_by=users["a"], error="boom"),
        "job_b": make_job("queued", created_by=users["b"]),
        "job_org": make_job("queued", created_by=users["colleague"], organization=org, project=project),
        "job_other": make_job("running", created_by=outsider, organization=other_org, project=other_project),
    }
    return Cast(users=users, org=org, other_org=other_org, project=project, other_project=other_project, jobs=jobs)
