"""Writing the audit log. Entries are written in the caller's transaction, so that an action
that rolls back leaves no entry, and one that commits cannot lose its entry."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from audit.actors import Actor, Source
from audit.models import AuditEntry


def _entry(by: Actor | None, action: str, target_kind: str, target_id: Any, outcome: str,
           detail: dict[str, Any] | None, now: Any) -> AuditEntry:
    user = by.user if by is not None and getattr(by.user, "pk", None) is not None else None
    return AuditEntry(
        at=now, actor=user, actor_name=by.label if by is not None else Source.SYSTEM,
        source=by.source if by is not None else Source.SYSTEM,
        client_address=by.address if by is not None else "", reason=by.reason if by is not None else "",
        action=action, target_kind=target_kind, target_id="" if target_id is None else str(target_id)[:255],
        outcome=outcome[:255], detail=detail or {},
    )


def audit_record(*, by: Actor | None, action: str, target_kind: str = "", target_id: Any = None,
                 outcome: str = "", detail: dict[str, Any] | None = None) -> AuditEntry:
    """Record one action."""
    entry = _entry(by, action, target_kind, target_id, outcome, detail, timezone.now())
    entry.save()
    return entry


def audit_record_many(*, by: Actor | None, action: str, target_kind: str, target_ids: Iterable[Any],
                      outcome: str = "", detail: dict[str, Any] | None = None) -> int:
    """One entry per target of a bulk action (each job's timeline shows it), in one INSERT."""
    now = timezone.now()
    entries = [_entry(by, action, target_kind, target_id, outcome, detail, now) for target_id in target_ids]
    AuditEntry.objects.bulk_create(entries, batch_size=1000)
    return len(entries)
