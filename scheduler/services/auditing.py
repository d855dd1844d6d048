"""Schedule changes by a person: the permission they need, and their audit entry.

The owner of a schedule (or an admin of its organization) may change their own; anyone else
needs the scheduler's permission for it (`scheduler.change_scheduledjob`, or
`delete_scheduledjob` for a delete), which the "Operators" group holds and "Read-only
operators" does not. `by=None` is the platform itself (the sync, beat).
"""
from __future__ import annotations

from typing import Any

from audit.actors import Actor
from audit.services import audit_record
from jobs.errors import NotPermitted
from jobs.models import Membership
from jobs.selectors import memberships_of
from scheduler.models import ScheduledJob

PERMISSION = {"delete": "scheduler.delete_scheduledjob"}
CHANGE = "scheduler.change_scheduledjob"


def _owns(user: Any, schedule: ScheduledJob) -> bool:
    if user is None or getattr(user, "pk", None) is None:
        return False
    if schedule.owner_id is not None and schedule.owner_id == user.pk:
        return True
    if schedule.organization_id is None:
        return False
    return memberships_of(user=user).get(schedule.organization_id) == Membership.Role.ADMIN


def schedule_permitted(by: Actor | None, action: str, schedule: ScheduledJob) -> None:
    """NotPermitted (403) unless `by` may take `action` on the schedule."""
    if by is None:
        return
    permission = PERMISSION.get(action, CHANGE)
    if not _owns(by.user, schedule) and not by.has_perm(permission):
        raise NotPermitted(by.label, f"{action.replace('_', ' ')} schedule", permission, schedule.name)


def schedule_audited(by: Actor | None, action: str, schedule: ScheduledJob, outcome: str = "",
                     detail: dict[str, Any] | None = None) -> None:
    """Refuse (NotPermitted, 403) unless `by` may take `action` on the schedule; else record it.
    Call inside the action's transaction, so that a refused or failed action leaves no entry."""
    if by is None:
        return
    schedule_permitted(by, action, schedule)
    audit_record(by=by, action=f"schedule.{action}", target_kind="schedule", target_id=schedule.pk,
                 outcome=outcome, detail={"name": schedule.name, **(detail or {})})
