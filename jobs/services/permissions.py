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

from audit.actors import Actor
from jobs.errors import NotPermitted
from jobs.models import Job
from jobs.selectors.access import owns_job

PERMISSION = {
    "cancel": "jobs.cancel_job",
    "retry": "jobs.retry_job",
    "bulk": "jobs.bulk_job",
    "pause": "jobs.pause_work",
    "resume": "jobs.pause_work",
}



# the job is the user's: its creator, or an admin of its organization
owns = owns_job


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
