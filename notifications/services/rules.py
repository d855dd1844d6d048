"""Rules created, changed and deleted. Every field is checked before anything is stored
(`validation`); a rule's event and organization stay what they were created with."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs.models import Organization, Project
from notifications.kinds import EventKind
from notifications.models import Channel, Rule
from notifications.services import validation as valid

logger = logging.getLogger("conveyor.notifications")

MAX_MIN_JOBS = 1_000_000
# the fields a change may give, besides channels
_CHANGEABLE = ("name", "project", "job_type", "queue", "threshold", "window_seconds", "min_jobs",
               "throttle_seconds", "digest_size", "enabled")


def rule_fields(event: str, organization_id: int | None, data: dict[str, Any]) -> dict[str, Any]:
    """The rule's fields, checked together (a project in the rule's organization, a threshold
    that suits its event)."""
    project = valid.project(data.get("project"), organization_id)
    queue = valid.queue(data.get("queue"))
    valid.event_scope(event, project_id=project.pk if project else None, queue_name=queue)
    return {
        "name": valid.name(data.get("name")),
        "project": project,
        "job_type": valid.job_type(data.get("job_type")),
        "queue": queue,
        "threshold": valid.threshold(event, data.get("threshold")),
        "window_seconds": valid.window(event, data.get("window_seconds")),
        "min_jobs": valid.integer("minJobs", data.get("min_jobs", 10), 1, MAX_MIN_JOBS),
        "throttle_seconds": valid.integer("throttleSeconds", data.get("throttle_seconds", 300), 0, valid.MAX_THROTTLE),
        "digest_size": valid.integer("digestSize", data.get("digest_size", 10), 1, valid.MAX_DIGEST),
        "enabled": valid.flag("enabled", data.get("enabled", True)),
    }


def rule_create(
    *,
    name: str,
    event: str,
    channels: Iterable[Channel],
    organization: Organization | None = None,
    project: Project | None = None,
    job_type: str = "",
    queue: str = "",
    threshold: float | None = None,
    window_seconds: int | None = None,
    min_jobs: int = 10,
    throttle_seconds: int = 300,
    digest_size: int = 10,
    enabled: bool = True,
    created_by: Any = None,
    now: datetime | None = None,
) -> Rule:
    """Validate and store a rule sending to `channels` (of the rule's own organization, or
    platform-wide ones for a platform-wide rule)."""
    event = valid.choice("event", event, EventKind.values)
    org = valid.organization(organization)
    org_id = org.pk if org else None
    fields = rule_fields(event, org_id, {
        "name": name, "project": project, "job_type": job_type, "queue": queue, "threshold": threshold,
        "window_seconds": window_seconds, "min_jobs": min_jobs, "throttle_seconds": throttle_seconds,
        "digest_size": digest_size, "enabled": enabled})
    targets = valid.channels(channels, org_id)
    now = now or timezone.now()
    with transaction.atomic():
        rule = Rule.objects.create(event=event, organization=org, created_at=now, updated_at=now,
                                   created_by=created_by if getattr(created_by, "pk", None) else None, **fields)
        rule.channels.set(targets)
    logger.info("%s created, sending to %s", rule, ", ".join(str(c.pk) for c in targets))
    return rule


def rule_update(*, rule: Rule, channels: Iterable[Channel] | None = None, now: datetime | None = None,
                **changes: Any) -> Rule:
    """Change some fields of a rule (a PATCH). A new throttle applies to the window in progress:
    a shorter one may let the waiting digest go out at the next evaluation."""
    unknown = sorted(set(changes) - set(_CHANGEABLE) - {"event", "organization"})
    if unknown:
        raise valid.fail(unknown[0], "is not a field of a rule that can be changed")
    if "event" in changes and changes["event"] != rule.event:
        raise valid.fail("event", f"rule {rule.pk} watches {rule.event}; create a new rule for another event")
    if "organization" in changes and getattr(changes["organization"], "pk", None) != rule.organization_id:
        raise valid.fail("organizationId", f"rule {rule.pk} stays in its organization; create a new one")
    current = {name: getattr(rule, name) for name in _CHANGEABLE}
    current.update({name: value for name, value in changes.items() if name in _CHANGEABLE})
    fields = rule_fields(rule.event, rule.organization_id, current)
    targets = valid.channels(channels, rule.organization_id) if channels is not None else None
    with transaction.atomic():
        for key, value in fields.items():
            setattr(rule, key, value)
        rule.updated_at = now or timezone.now()
        # only these fields: the throttle's own (last_message_at) may have moved meanwhile
        rule.save(update_fields=[*fields, "updated_at"])
        if targets is not None:
            rule.channels.set(targets)
    return rule


def rule_delete(*, rule: Rule) -> None:
    """Delete a rule with its conditions and waiting events; its deliveries stay, unlinked."""
    logger.info("%s deleted", rule)
    rule.delete()
