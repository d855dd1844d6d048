"""API tokens made and revoked by a person, each recorded in the audit log.

Tokens are django-rest-knox tokens: only a digest is stored; `token_key` (the token's first
characters) names one without revealing it.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from knox.models import AuthToken

from audit.actors import Actor
from audit.services import audit_record

logger = logging.getLogger("conveyor.jobs")


def api_token_create(*, user: Any, expiry: timedelta | None, by: Actor | None) -> tuple[AuthToken, str]:
    """A new token for `user`: (its row, the token itself, shown once)."""
    with transaction.atomic():
        instance, token = AuthToken.objects.create(user=user, expiry=expiry)
        audit_record(by=by, action="token.create", target_kind="user", target_id=user.get_username(),
                     outcome=f"token {instance.token_key}…",
                     detail={"token_key": instance.token_key,
                             "expiry": instance.expiry.isoformat() if instance.expiry else None})
    logger.info("API token %s… created for %s", instance.token_key, user.get_username())
    return instance, token


def api_tokens_revoke(*, user: Any, by: Actor | None, token_key: str = "") -> int:
    """Revoke the user's tokens (only the one whose key starts with `token_key`, when given);
    returns how many."""
    tokens = AuthToken.objects.filter(user=user)
    if token_key:
        tokens = tokens.filter(token_key__startswith=token_key)
    with transaction.atomic():
        keys = list(tokens.values_list("token_key", flat=True))
        tokens.delete()
        for key in keys:
            audit_record(by=by, action="token.revoke", target_kind="user", target_id=user.get_username(),
                         outcome=f"token {key}…", detail={"token_key": key})
    logger.info("%s API token(s) of %s revoked", len(keys), user.get_username())
    return len(keys)
