"""Who may see and who may act on a row owned by a user and, optionally, an organization.

One policy for every such row (jobs, schedules): staff see and act on everything; anyone else
sees what they own and what belongs to their organizations, and acts on what they own and on
what belongs to the organizations where they are an admin; anonymous users see and act on
nothing. Another user's row is "not found" to the API, never "forbidden" (ARCHITECTURE,
invariant 7), so the scope is applied to the query rather than checked afterwards.

The organization ids go into the queries as a literal list, not a subquery: PostgreSQL then
combines the owner and organization indexes instead of filtering the whole table.
"""
from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from jobs.models import Job, Membership

# what every job read needs for display; fetched in the same query (no N+1)
JOB_RELATED = ("created_by", "organization", "project")


def is_person(user: Any) -> bool:
    """Whether `user` is a signed-in user (not None, not anonymous)."""
    return user is not None and getattr(user, "is_authenticated", False)


def memberships_of(*, user: Any) -> dict[int, str]:
    """The organizations a user belongs to, as {organization id: role}; {} for anonymous."""
    if not is_person(user):
        return {}
    return dict(Membership.objects.filter(user=user).values_list("organization_id", "role"))


def _organizations(memberships: dict[int, str], *, act: bool) -> list[int]:
    if act:
        return sorted(org for org, role in memberships.items() if role == Membership.Role.ADMIN)
    return sorted(memberships)


def scope_q(
    *,
    user: Any,
    memberships: dict[int, str] | None = None,
    act: bool = False,
    owner_field: str = "created_by",
    organization_field: str = "organization",
) -> Q | None:
    """The rows `user` may see (`act=False`) or act on (`act=True`), as a condition on the
    model's `owner_field` and `organization_field`; None means no restriction (staff), and an
    anonymous user gets a condition that matches nothing. Pass `memberships` (from
    `memberships_of`) to save its query."""
    if not is_person(user):
        return Q(pk__in=[])
    if user.is_staff:
        return None
    roles = memberships_of(user=user) if memberships is None else memberships
    scope = Q(**{owner_field: user})
    org_ids = _organizations(roles, act=act)
    if org_ids:
        scope |= Q(**{f"{organization_field}__in": org_ids})
    return scope


def may_see(*, user: Any, owner_id: int | None, organization_id: int | None,
            memberships: dict[int, str] | None = None) -> bool:
    """Whether `user` may see a row with this owner and organization (see `scope_q`), without
    a query when `memberships` is given or the answer does not depend on them."""
    return _may(user, owner_id, organization_id, memberships, act=False)


def may_act(*, user: Any, owner_id: int | None, organization_id: int | None,
            memberships: dict[int, str] | None = None) -> bool:
    """Whether `user` may act on (cancel, retry, change) a row with this owner and
    organization (see `scope_q` with `act=True`), without a query when `memberships` is given
    or the answer does not depend on them."""
    return _may(user, owner_id, organization_id, memberships, act=True)


def _may(user: Any, owner_id: int | None, organization_id: int | None,
         memberships: dict[int, str] | None, *, act: bool) -> bool:
    """The row-by-row form of `scope_q`: the same owner and organization rule, for one row."""
    if not is_person(user):
        return False
    if user.is_staff or (owner_id is not None and owner_id == user.pk):
        return True
    if organization_id is None:
        return False
    roles = memberships_of(user=user) if memberships is None else memberships
    return organization_id in _organizations(roles, act=act)


def may_use_organization(*, user: Any, organization_id: int,
                         memberships: dict[int, str] | None = None) -> bool:
    """Whether `user` may list and create rows (jobs, schedules) in this organization: its
    members, whatever their role, and staff in any; anonymous users in none. Without a query
    when `memberships` is given or the user is staff."""
    if not is_person(user):
        return False
    if user.is_staff:
        return True
    if memberships is not None:
        return organization_id in memberships
    return Membership.objects.filter(user=user, organization_id=organization_id).exists()


def _scoped_jobs(*, user: Any, memberships: dict[int, str] | None, act: bool) -> QuerySet[Job]:
    base = Job.objects.select_related(*JOB_RELATED)
    if not is_person(user):
        return base.none()  # no query at all, where a condition would still cost one
    scope = scope_q(user=user, memberships=memberships, act=act)
    return base if scope is None else base.filter(scope)


def visible_jobs(*, user: Any, memberships: dict[int, str] | None = None) -> QuerySet[Job]:
    """The jobs a user may see: staff every job; anyone else the jobs they created and those of
    their organizations; anonymous none. Pass `memberships` to save its query."""
    return _scoped_jobs(user=user, memberships=memberships, act=False)


def actionable_jobs(*, user: Any, memberships: dict[int, str] | None = None) -> QuerySet[Job]:
    """The jobs a user may cancel and retry: staff every job; anyone else their own and those
    of the organizations where they are an admin."""
    return _scoped_jobs(user=user, memberships=memberships, act=True)


def user_may_act_on(*, user: Any, job: Job, memberships: dict[int, str] | None = None) -> bool:
    """Whether the user may cancel or retry this job (see `actionable_jobs`), without a query
    when `memberships` is given."""
    return may_act(user=user, owner_id=job.created_by_id, organization_id=job.organization_id,
                   memberships=memberships)


def owns_job(user: Any, job: Job, memberships: dict[int, str] | None = None) -> bool:
    """Whether the job is the user's: its creator, or an admin of its organization (what one may
    always act on and see in full, whatever one's permissions). Without a query when
    `memberships` is given or the answer does not depend on them."""
    if not is_person(user):
        return False
    if job.created_by_id is not None and job.created_by_id == user.pk:
        return True
    if job.organization_id is None:
        return False
    roles = memberships_of(user=user) if memberships is None else memberships
    return roles.get(job.organization_id) == Membership.Role.ADMIN
