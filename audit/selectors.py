"""Reading the audit log."""
from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from audit.models import AuditEntry


def audit_entries_for(*, target_kind: str, target_id: Any, limit: int = 200) -> QuerySet[AuditEntry]:
    """The newest entries about one target (a job's timeline), newest first."""
    return AuditEntry.objects.filter(target_kind=target_kind, target_id=str(target_id)).order_by("-at", "-id")[:limit]
