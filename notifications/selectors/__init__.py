"""Every read of notifications for the admin, the API, the receivers and the evaluation.

    access.py     who may see and manage channels, rules and deliveries
    matching.py   the rules an event about one job concerns
    measures.py   what the conditions measure (backlog, consumers, failure rate, schedules)

Nothing here changes a row; writes are `notifications.services`.
"""
from __future__ import annotations

from notifications.selectors.access import (
    channel_get,
    channels_visible,
    deliveries_visible,
    delivery_get,
    may_manage,
    organization_scope,
    projects_visible,
    rule_get,
    rules_visible,
)
from notifications.selectors.matching import rules_for_job

__all__ = [
    "channel_get", "channels_visible", "deliveries_visible", "delivery_get", "may_manage", "organization_scope",
    "projects_visible", "rule_get", "rules_for_job", "rules_visible",
]
