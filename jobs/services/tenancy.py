"""Organizations, their projects and their members: created, joined, re-roled and left.

The verbs are safe to repeat, so that a deployment's set-up script can run again:

1. `organization_create` with a slug that exists and the same fields does nothing and says so
   (`created=False`); with other fields it raises OrganizationExists naming each difference.
2. `project_create` likewise within an organization, by name (projects have no slug); a name
   that differs from an existing one only in case is refused, as a likely typo.
3. `membership_add` of a member gives them the role asked for (`previous_role` says what it
   was); `membership_remove` of someone who is not a member raises MembershipNotFound.

Each verb validates before it writes and writes in one transaction: a refusal changes nothing.
Callers resolve references (slug, username) through `jobs.selectors` and pass the rows.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.core.validators import slug_re
from django.db import IntegrityError, transaction

from jobs.models import Membership, Organization, Project
from jobs.tenancy_errors import MembershipNotFound, OrganizationExists, ProjectExists, TenancyValidationError

logger = logging.getLogger("conveyor.jobs")

# the quota columns are PositiveIntegerField: PostgreSQL's integer holds up to this
_MAX_QUOTA = 2**31 - 1
QUOTA_FIELDS = ("jobs_per_minute", "jobs_per_hour", "jobs_per_day", "max_payload_bytes")


@dataclass(frozen=True)
class OrganizationCreated:
    """What `organization_create` did: the organization, and whether it is new (False: it
    existed already with the fields asked for)."""

    organization: Organization
    created: bool


@dataclass(frozen=True)
class ProjectCreated:
    """What `project_create` did: the project, and whether it is new (False: the organization
    had a project of that name already)."""

    project: Project
    created: bool


@dataclass(frozen=True)
class MembershipAdded:
    """What `membership_add` did: the membership as it now is, and the user's role before
    (None: they were not a member)."""

    membership: Membership
    previous_role: str | None

    @property
    def created(self) -> bool:
        return self.previous_role is None

    @property
    def changed(self) -> bool:
        """Whether anything was written: a new member, or a new role."""
        return self.previous_role != self.membership.role


# --- validation -------------------------------------------------------------------------------


def _field_max_length(model: type[Any], field: str) -> int:
    return int(model._meta.get_field(field).max_length)


def validated_slug(value: Any) -> str:
    """An organization's slug as stored: letters, digits, hyphens and underscores."""
    text = str(value if value is not None else "").strip()
    limit = _field_max_length(Organization, "slug")
    if not text:
        raise TenancyValidationError("slug", "must not be empty")
    if not slug_re.fullmatch(text):
        raise TenancyValidationError(
            "slug", f"{text!r} is not a slug: use only letters, digits, hyphens and underscores"
        )
    if len(text) > limit:
        raise TenancyValidationError("slug", f"{text!r} is {len(text)} characters, over the limit of {limit}")
    return text


def validated_name(value: Any, *, model: type[Any]) -> str:
    """An organization's or a project's display name: not blank, within the column's length."""
    text = " ".join(str(value if value is not None else "").split())
    limit = _field_max_length(model, "name")
    if not text:
        raise TenancyValidationError("name", "must not be empty")
    if len(text) > limit:
        raise TenancyValidationError("name", f"is {len(text)} characters, over the limit of {limit}")
    return text


def validated_quota(field: str, value: Any) -> int | None:
    """A quota (None: the JOBS_QUOTA_* setting applies; 0: no limit of that kind)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TenancyValidationError(field, f"must be a whole number, got {value!r}")
    if not 0 <= value <= _MAX_QUOTA:
        raise TenancyValidationError(field, f"must be from 0 to {_MAX_QUOTA}, got {value}")
    return value


def validated_role(value: Any) -> str:
    """A membership's role, one of Membership.Role."""
    if value not in Membership.Role.values:
        roles = ", ".join(sorted(Membership.Role.values))
        raise TenancyValidationError("role", f"unknown role {value!r}; roles: {roles}")
    return str(value)


# --- organizations ----------------------------------------------------------------------------


def organization_create(
    *,
    slug: str,
    name: str,
    jobs_per_minute: int | None = None,
    jobs_per_hour: int | None = None,
    jobs_per_day: int | None = None,
    max_payload_bytes: int | None = None,
) -> OrganizationCreated:
    """Create an organization. If its slug exists: nothing changes, and that is `created=False`
    when the name and each quota given match, else OrganizationExists. A quota left None is not
    compared (the stored one may have been set since in the admin)."""
    asked: dict[str, Any] = {"slug": validated_slug(slug), "name": validated_name(name, model=Organization)}
    quotas = {"jobs_per_minute": jobs_per_minute, "jobs_per_hour": jobs_per_hour, "jobs_per_day": jobs_per_day,
              "max_payload_bytes": max_payload_bytes}
    for field, value in quotas.items():
        asked[field] = validated_quota(field, value)
    existing = Organization.objects.filter(slug=asked["slug"]).first()
    if existing is None:
        try:
            # a savepoint: when another process took the slug meanwhile, the caller's transaction
            # goes on and the row it made is compared like any existing one
            with transaction.atomic():
                organization = Organization.objects.create(**asked)
        except IntegrityError:
            existing = Organization.objects.filter(slug=asked["slug"]).first()
            if existing is None:
                raise
        else:
            logger.info("organization %s (%s) created", organization.slug, organization.name)
            return OrganizationCreated(organization=organization, created=True)
    differences = [
        (field, getattr(existing, field), value)
        for field, value in asked.items()
        if field != "slug" and value is not None and getattr(existing, field) != value
    ]
    if differences:
        raise OrganizationExists(existing.slug, differences)
    return OrganizationCreated(organization=existing, created=False)


# --- projects ---------------------------------------------------------------------------------


def project_create(*, organization: Organization, name: str) -> ProjectCreated:
    """Create a project in an organization. A project of exactly that name there already is
    returned with `created=False`; one whose name differs only in case raises ProjectExists."""
    name = validated_name(name, model=Project)
    with transaction.atomic():
        # The table has no unique name per organization: locking the organization's row makes
        # two concurrent creations of one name take turns, so the second one finds the first.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        same = list(Project.objects.filter(organization=organization, name__iexact=name).order_by("pk"))
        exact = next((project for project in same if project.name == name), None)
        if exact is not None:
            return ProjectCreated(project=exact, created=False)
        if same:
            raise ProjectExists(organization_slug=organization.slug, name=name,
                                existing_name=same[0].name, existing_id=same[0].pk)
        project = Project.objects.create(organization=organization, name=name)
    logger.info("project %s (%s) created in organization %s", project.pk, project.name, organization.slug)
    return ProjectCreated(project=project, created=True)


# --- memberships ------------------------------------------------------------------------------


def membership_add(*, organization: Organization, user: Any, role: str = Membership.Role.MEMBER) -> MembershipAdded:
    """Make `user` a member of `organization` with `role`; a member already gets that role."""
    role = validated_role(role)
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update().filter(organization=organization, user=user).first()
        )
        if membership is None:
            try:
                with transaction.atomic():
                    membership = Membership.objects.create(organization=organization, user=user, role=role)
            except IntegrityError:
                # added by another process meanwhile (the unique user-and-organization pair):
                # change that row's role as if it had been there
                membership = Membership.objects.select_for_update().get(organization=organization, user=user)
            else:
                logger.info("%s added to organization %s as %s", user.get_username(), organization.slug, role)
                return MembershipAdded(membership=membership, previous_role=None)
        previous = membership.role
        if previous != role:
            membership.role = role
            membership.save(update_fields=["role"])
            logger.info("%s's role in organization %s changed from %s to %s",
                        user.get_username(), organization.slug, previous, role)
    return MembershipAdded(membership=membership, previous_role=previous)


def membership_remove(*, organization: Organization, user: Any) -> Membership:
    """Remove `user` from `organization`; the removed membership is returned (its role kept).
    Their jobs stay in the organization; only what membership gave them (seeing and acting on
    the organization's jobs, creating jobs there) ends."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update().filter(organization=organization, user=user).first()
        )
        if membership is None:
            raise MembershipNotFound(username=user.get_username(), organization_slug=organization.slug)
        membership.delete()
    logger.info("%s (%s) removed from organization %s", user.get_username(), membership.role, organization.slug)
    return membership
