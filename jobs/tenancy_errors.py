"""What a caller can get wrong with organizations, projects and memberships, under the
platform's base error so that every adapter (commands, the API) reports them in one place.
Each message names the organization, project, user or value involved; nothing was changed."""
from __future__ import annotations

from collections.abc import Sequence

from jobs.errors import ConveyorError, JobValidationError


class TenancyValidationError(JobValidationError):
    """A bad value for an organization, a project or a membership; `field` names it (400)."""


class TenancyConflict(ConveyorError):
    """The row exists already in another form (409): an organization's slug taken with other
    fields, a project's name taken in its organization with another spelling."""

    http_status = 409


class OrganizationExists(TenancyConflict):
    """An organization with this slug exists with other fields; `differences` lists them as
    (field, stored value, asked value)."""

    def __init__(self, slug: str, differences: Sequence[tuple[str, object, object]]) -> None:
        self.slug = slug
        self.differences = list(differences)
        listed = ", ".join(f"{field} {stored!r} (not {asked!r})" for field, stored, asked in self.differences)
        super().__init__(f"organization {slug!r} exists already with {listed}; nothing was changed")


class ProjectExists(TenancyConflict):
    """A project whose name differs from the one asked only in case exists in the organization."""

    def __init__(self, *, organization_slug: str, name: str, existing_name: str, existing_id: int) -> None:
        self.organization_slug = organization_slug
        self.name = name
        self.existing_id = existing_id
        super().__init__(
            f"organization {organization_slug!r} has a project {existing_name!r} (id {existing_id}) already, "
            f"which differs from {name!r} only in case; nothing was changed"
        )


class MembershipNotFound(ConveyorError):
    """The user is not a member of the organization (404)."""

    http_status = 404

    def __init__(self, *, username: str, organization_slug: str) -> None:
        self.username = username
        self.organization_slug = organization_slug
        super().__init__(f"user {username!r} is not a member of organization {organization_slug!r}")
