"""API tokens in the admin: listed (never shown: only digests are stored) and revoked through
`jobs.services.api_tokens_revoke`, so that each revocation is in the audit log. Tokens are made
with `manage.py create_api_token`."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from knox.models import AuthToken

from audit.actors import Actor, Source
from jobs import services

admin.site.unregister(AuthToken)  # knox's own admin deletes without a trace


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("token_key", "user", "created", "expiry")
    search_fields = ("=token_key", "user__username")
    fields = ("token_key", "user", "created", "expiry")
    readonly_fields = fields
    actions = ["revoke_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("knox.delete_authtoken")

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[AuthToken]) -> None:
        by = Actor.from_request(request, Source.ADMIN)
        revoked = 0
        for token in queryset.select_related("user"):
            revoked += services.api_tokens_revoke(user=token.user, token_key=token.token_key, by=by)
        self.message_user(request, f"Revoked {revoked} API token(s).", messages.SUCCESS)
