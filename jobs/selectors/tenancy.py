"""Look-ups of users, organizations and projects by the reference an adapter was given (a
username, an organization's slug or id, a project id); each answers None when nothing matches,
so the adapter chooses how to report it."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from jobs.models import Membership, Organization, Project


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


# --- lists, for the `tenancy` command ------------------------------------------------------------


def _count_of(model: type[Membership] | type[Project]) -> Coalesce:
    """The number of `model` rows of each organization, as a subquery (two joined counts
    would multiply each other's rows)."""
    counted = (
        model._default_manager.filter(organization=OuterRef("pk"))
        .order_by().values("organization").annotate(n=Count("pk")).values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def organization_list() -> QuerySet[Organization]:
    """Every organization by slug, each with `member_count` and `project_count`."""
    return Organization.objects.annotate(
        member_count=_count_of(Membership), project_count=_count_of(Project)
    ).order_by("slug")


def project_list(*, organization: Organization | None = None) -> QuerySet[Project]:
    """Projects with their organization, by organization slug (those outside any last) and
    name; only `organization`'s when given."""
    projects = Project.objects.select_related("organization")
    if organization is not None:
        projects = projects.filter(organization=organization)
    return projects.order_by(F("organization__slug").asc(nulls_last=True), "name", "pk")


def membership_list(*, organization: Organization | None = None, user: Any = None) -> QuerySet[Membership]:
    """Memberships with their user and organization, by organization slug and username;
    only `organization`'s and `user`'s when given."""
    User = get_user_model()
    memberships = Membership.objects.select_related("user", "organization")
    if organization is not None:
        memberships = memberships.filter(organization=organization)
    if user is not None:
        memberships = memberships.filter(user=user)
    return memberships.order_by("organization__slug", f"user__{User.USERNAME_FIELD}")
