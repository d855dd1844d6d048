"""Who may see and do what through the API.

  * Everyone signed in sees the jobs they created; organization members see the organization's
    jobs; staff see every job (`jobs.selectors.visible_jobs`). A job one may not see answers
    404, as if it did not exist, and never counts in a list, a total or a stats figure.
  * Cancel and retry: one's own jobs, the jobs of organizations where one is an admin, and for
    staff every job. A job one can see but not act on (an ordinary member's view of a
    colleague's job) answers 403.
  * Organizations and projects are not secret (their ids only): one that does not exist answers
    404 in a path and 400 in a body; one that the user is not a member of answers 403, for
    listing and for creating in it. Staff may use any. A project outside any organization is
    open to everyone signed in (its jobs stay visible per job).

One `Viewer` per request loads the user's memberships once, so that a check costs no query.
"""
from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import exceptions
from rest_framework.request import Request

from api.permissions import no_such_organization, not_a_member
from audit.actors import Actor, Source
from jobs import selectors
from jobs.models import Job, Organization, Project
from jobs.services import permissions


class Viewer:
    """The signed-in user of one request, with their memberships ({organization id: role})."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self._memberships: dict[int, str] | None = None

    @property
    def is_staff(self) -> bool:
        return bool(self.user.is_staff)

    @property
    def memberships(self) -> dict[int, str]:
        if self._memberships is None:
            self._memberships = {} if self.is_staff else selectors.memberships_of(user=self.user)
        return self._memberships

    def visible_jobs(self) -> QuerySet[Job]:
        return selectors.visible_jobs(user=self.user, memberships=self.memberships)

    def actionable_jobs(self) -> QuerySet[Job]:
        return selectors.actionable_jobs(user=self.user, memberships=self.memberships)

    def job(self, job_id: Any) -> Job:
        """The job if this user may see it; JobNotFound (404) otherwise, as for no job at all."""
        return selectors.job_get(job_id=job_id, visible_to=self.user)

    def actor(self, request: Request) -> Actor:
        """Who acts, for the services' permission check and the audit log; the reason comes
        from a JSON body's `reason`, when there is one."""
        body = request.data if isinstance(request.data, dict) else {}
        return Actor.from_request(request, Source.API, reason=str(body.get("reason") or "")[:1000])

    def require_action(self, job: Job, verb: str) -> None:
        """403 unless the user may cancel or retry this (visible) job: their own, their
        organization's as its admin, or any with the action's permission (the services check
        the same rule again)."""
        if not permissions.may(Actor(user=self.user, source=Source.API), verb, job, self.memberships):
            raise exceptions.PermissionDenied(
                f"you may not {verb} job {job.pk}: only its creator, an admin of its organization or an operator "
                f"with the permission {permissions.PERMISSION[verb]!r} may"
            )

    def organization(self, org_id: int, *, in_body: bool = False) -> Organization:
        """An organization the user may list and create jobs in."""
        org = selectors.organization_get(organization_id=org_id)
        if org is None:
            raise no_such_organization(org_id, body_field="orgId" if in_body else None)
        if not self.may_use(org.pk):
            raise not_a_member(org.pk)
        return org

    def project(self, project_id: int, *, in_body: bool = False) -> Project:
        """A project the user may list and create jobs in."""
        project = selectors.project_find(project_id=project_id)
        if project is None:
            message = f"no project {project_id}"
            if in_body:
                raise exceptions.ValidationError({"projectId": [message]})
            raise exceptions.NotFound(message)
        org_id = project.organization_id
        if org_id is not None and not self.may_use(org_id):
            raise not_a_member(org_id, because=f", which project {project.pk} belongs to")
        return project

    def may_use(self, organization_id: int) -> bool:
        return selectors.may_use_organization(user=self.user, organization_id=organization_id,
                                              memberships=self.memberships)


def viewer(request: Request) -> Viewer:
    """The request's Viewer (made once per request)."""
    cached = getattr(request, "_conveyor_viewer", None)
    if cached is None or cached.user is not request.user:
        cached = Viewer(request.user)
        setattr(request, "_conveyor_viewer", cached)  # noqa: B010 (DRF's Request declares no such attribute)
    return cached
