"""The answers every app's API gives about organizations, in the same words: the policy itself
(who may use which organization) is the jobs app's (`jobs.selectors.may_use_organization`).

An organization's id is not secret: one that does not exist answers 404 in a path and 400 in a
body (naming the field the body used); one the user is not a member of answers 403.
"""
from __future__ import annotations

from rest_framework import exceptions


def no_such_organization(organization_id: int, *, body_field: str | None = None) -> exceptions.APIException:
    """The error for an organization id that names none: 404, or 400 naming `body_field`."""
    message = f"no organization {organization_id}"
    if body_field is not None:
        return exceptions.ValidationError({body_field: [message]})
    return exceptions.NotFound(message)


def not_a_member(organization_id: int, *, because: str = "") -> exceptions.PermissionDenied:
    """The error for an organization the user may not use (403); `because` says what led to
    it (", which project 7 belongs to")."""
    return exceptions.PermissionDenied(f"you are not a member of organization {organization_id}{because}")
