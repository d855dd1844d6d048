"""The audit log in the admin: browsable and filterable, never changed or deleted."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_name", "source", "action", "target_kind", "target_id", "reason", "outcome",
                    "client_address")
    list_filter = ("action", "source", "target_kind", ("at", admin.DateFieldListFilter))
    search_fields = ("=actor_name", "=target_id", "reason", "=client_address")
    date_hierarchy = "at"
    readonly_fields = [field.name for field in AuditEntry._meta.fields]
    list_per_page = 100
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
