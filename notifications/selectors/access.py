"""Who may see and manage channels, rules and deliveries.

A row belongs to an organization, or to the platform (no organization). Staff see and manage
everything; members of an organization see its rows, its admins manage them; platform-wide
rows are staff's alone; anonymous users see nothing. A row one may not see is "not found" to
the API, never "forbidden" (as jobs are), so the scope is applied to the query.
"""
from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from jobs.models import Membership, Project
from jobs.selectors import is_person, memberships_of
from notifications.errors import NotificationNotFound
from notifications.models import Channel, Condition, Delivery, Rule


def organization_scope(*, user: Any, manage: bool = False, field: str = "organization_id") -> Q | None:
    """The rows `user` may see (or manage) as a condition on `field`; None: every row (staff)."""
    if not is_person(user):
        return Q(pk__in=[])
    if user.is_staff:
        return None
    roles = memberships_of(user=user)
    orgs = sorted(org for org, role in roles.items() if not manage or role == Membership.Role.ADMIN)
    return Q(**{f"{field}__in": orgs})


def may_manage(*, user: Any, organization_id: int | None) -> bool:
    """Whether `user` may create or change rows in this organization (None: platform-wide)."""
    if not is_person(user):
        return False
    if user.is_staff:
        return True
    if organization_id is None:
        return False
    return memberships_of(user=user).get(organization_id) == Membership.Role.ADMIN


def _scoped(queryset: QuerySet[Any], user: Any, field: str = "organization_id") -> QuerySet[Any]:
    scope = organization_scope(user=user, field=field)
    return queryset if scope is None else queryset.filter(scope)


def projects_visible(*, user: Any) -> QuerySet[Project]:
    """The projects a rule of `user`'s may name: those of their organizations (staff: all)."""
    return _scoped(Project.objects.all(), user)


def channels_visible(*, user: Any) -> QuerySet[Channel]:
    return _scoped(Channel.objects.select_related("organization"), user)


def rules_visible(*, user: Any) -> QuerySet[Rule]:
    """With what a page of rules shows read in the same few queries: their channels, the
    events waiting (`waiting_events`) and the condition keys holding (`firing_conditions`)."""
    rules = (Rule.objects.select_related("organization", "project")
             .annotate(waiting_events=Count("events", filter=Q(events__sent_at__isnull=True)))
             .prefetch_related("channels", Prefetch("conditions", queryset=Condition.objects.filter(active=True),
                                                    to_attr="firing_conditions")))
    return _scoped(rules, user)


def deliveries_visible(*, user: Any) -> QuerySet[Delivery]:
    return _scoped(Delivery.objects.select_related("channel", "rule"), user, "channel__organization_id")


def channel_get(*, channel_id: int, user: Any = None) -> Channel:
    """A channel the user may see (any, without a user); NotificationNotFound otherwise."""
    queryset = channels_visible(user=user) if user is not None else Channel.objects.all()
    found = queryset.filter(pk=channel_id).first()
    if found is None:
        raise NotificationNotFound("channel", channel_id)
    return found


def rule_get(*, rule_id: int, user: Any = None) -> Rule:
    queryset = rules_visible(user=user) if user is not None else Rule.objects.all()
    found = queryset.filter(pk=rule_id).first()
    if found is None:
        raise NotificationNotFound("rule", rule_id)
    return found


def delivery_get(*, delivery_id: Any, user: Any = None) -> Delivery:
    queryset = deliveries_visible(user=user) if user is not None else Delivery.objects.all()
    try:
        key = delivery_id if isinstance(delivery_id, uuid.UUID) else uuid.UUID(str(delivery_id))
    except ValueError:
        raise NotificationNotFound("delivery", delivery_id) from None  # not a UUID: no such delivery
    found = queryset.filter(pk=key).first()
    if found is None:
        raise NotificationNotFound("delivery", delivery_id)
    return found
