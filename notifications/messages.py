"""The words and the data of a message: one event, or a digest of the events a throttle window
gathered (up to the rule's digest size listed, the rest counted).

One message serves every channel kind: `subject` and `text` are the e-mail and the Slack text,
`data` is the `data` of a webhook's body. Nothing here reads the database beyond the rows it
is given, nor sends anything.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from notifications.kinds import EventKind, EventState
from notifications.models import Event, Rule

SUBJECT_PREFIX = "[Conveyor]"
MAX_SUBJECT = 300


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    event_type: str
    event_count: int
    data: dict[str, Any]


def compose(rule: Rule, listed: Sequence[Event], total: int) -> Message:
    """The message for `total` events of a rule, of which `listed` (the oldest, up to its
    digest size) are shown one by one."""
    omitted = max(0, total - len(listed))
    if total == 1 and listed:
        subject = f"{SUBJECT_PREFIX} {_headline(listed[0])}"
    else:
        states = {event.state for event in listed}
        what = EventKind(rule.event).label if rule.event in EventKind.values else rule.event
        resolved = " (resolved)" if states == {EventState.RESOLVED} else ""
        subject = f"{SUBJECT_PREFIX} {rule.name}: {total} events{resolved}: {what}"
    lines = [f"Rule {rule.name!r} ({rule.event}): {total} event(s)."]
    lines += [f"- {_headline(event)} at {_when(event.occurred_at)}{_link(event)}" for event in listed]
    if omitted:
        lines.append(f"... and {omitted} more.")
    data = {
        "rule": {"id": rule.pk, "name": rule.name, "event": rule.event, "organizationId": rule.organization_id,
                 "projectId": rule.project_id},
        "digest": total > 1,
        "eventCount": total,
        "omitted": omitted,
        "events": [_event_data(event) for event in listed],
    }
    return Message(subject=subject[:MAX_SUBJECT], text="\n".join(lines), event_type=rule.event, event_count=total,
                   data=data)


def _headline(event: Event) -> str:
    prefix = "RESOLVED: " if event.state == EventState.RESOLVED else ""
    return prefix + event.summary


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _link(event: Event) -> str:
    site = settings.NOTIFICATIONS_SITE_URL.rstrip("/")
    job_id = (event.details or {}).get("jobId")
    if not site or not job_id:
        return ""
    return f" ({site}/admin/jobs/job/{job_id}/change/)"


def _event_data(event: Event) -> dict[str, Any]:
    return {"event": event.kind, "state": event.state, "key": event.key, "summary": event.summary,
            "occurredAt": event.occurred_at.isoformat(), "details": event.details or {}}
