"""Who may do what to jobs, checked here in the service layer, so that the API and the
commands refuse what the console hides.

A person may always act on their own jobs and, as an admin of an organization, on its jobs
(`jobs.selectors.access`). Beyond that, each action needs its Django permission, which the
shipped groups hold ("Operators" all of them, "Read-only operators" none):

    cancel   jobs.cancel_job        retry   jobs.retry_job
    bulk     jobs.bulk_job (a bulk action over jobs that are not one's own, by filter or by
             selection), and the permission of the action itself
    pause    jobs.pause_work (pause and resume alike)

`by=None` is the platform itself (the sweeper, a schedule) and is never refused.
"""
from __future__ import annotations

from typing import Any

from audit.actors import Actor
from jobs.errors import NotPermitted
from jobs.models import Job, Membership
from jobs.selectors.access import is_person, memberships_of

PERMISSION = {
    "cancel": "jobs.cancel_job",
    "retry": "jobs.retry_job",
    "bulk": "jobs.bulk_job",
    "pause": "jobs.pause_work",
    "resume": "jobs.pause_work",
}



def owns(user: Any, job: Job, memberships: dict[int, str] | None = None) -> bool:
    """Whether the job is the user's by creation or as an admin of its organization."""
    if not is_person(user):
        return False
    if job.created_by_id is not None and job.created_by_id == user.pk:
        return True
    if job.organization_id is None:
        return False
    roles = memberships_of(user=user) if memberships is None else memberships
    return roles.get(job.organization_id) == Membership.Role.ADMIN


def may(by: Actor | None, action: str, job: Job | None = None, memberships: dict[int, str] | None = None) -> bool:
    """Whether `by` may take `action` (on `job`, when it is about one)."""
    if by is None:
        return True
    if job is not None and by.user is not None and owns(by.user, job, memberships):
        return True
    return by.has_perm(PERMISSION[action])


def require(by: Actor | None, action: str, job: Job | None = None, memberships: dict[int, str] | None = None,
            target: str = "") -> None:
    """NotPermitted (403) unless `by` may take `action`."""
    if not may(by, action, job, memberships):
        assert by is not None
        what = target or (f"job {job.pk}" if job is not None else "")
        raise NotPermitted(by.label, action, PERMISSION[action], what)
