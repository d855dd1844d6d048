"""Look-ups of users, organizations and projects by the reference an adapter was given (a
username, an organization's slug or id, a project id); each answers None when nothing matches,
so the adapter chooses how to report it."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from jobs.models import Organization, Project


def user_find(*, username: str) -> Any | None:
    """The user with this username (the model's USERNAME_FIELD), or None."""
    User = get_user_model()
    return User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()


def organization_find(*, ref: str | int) -> Organization | None:
    """The organization with this slug or, failing that, this numeric id; or None."""
    text = str(ref).strip()
    org = Organization.objects.filter(slug=text).first()
    if org is None and text.isdigit():
        org = Organization.objects.filter(pk=int(text)).first()
    return org


def project_find(*, project_id: str | int) -> Project | None:
    """The project with this numeric id, or None (also for a non-numeric id)."""
    text = str(project_id).strip()
    if not text.isdigit():
        return None
    return Project.objects.select_related("organization").filter(pk=int(text)).first()


def organization_get(*, organization_id: int) -> Organization | None:
    """The organization with this id, or None."""
    return Organization.objects.filter(pk=organization_id).first()


