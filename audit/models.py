"""One row per operator action. Rows are only ever added: the admin offers no change or delete,
and `AuditEntry.save` refuses to update an existing row."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from audit.actors import Source


class AuditEntry(models.Model):
    """An action by a person: cancel, retry, bulk action, pause, resume, schedule change, run
    now, API token created or revoked."""

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", db_index=False)
    # kept as typed: the user may be deleted, the record stays readable
    actor_name = models.CharField(max_length=150)
    source = models.CharField(max_length=16, choices=Source.CHOICES)
    client_address = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    target_kind = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=255, blank=True)
    reason = models.TextField(blank=True)
    outcome = models.CharField(max_length=255, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [
            models.Index(fields=["target_kind", "target_id", "-at"], name="audit_target_idx"),
            models.Index(fields=["actor_name", "-at"], name="audit_actor_idx"),
            models.Index(fields=["action", "-at"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        target = f" {self.target_kind} {self.target_id}" if self.target_kind else ""
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action}{target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)
