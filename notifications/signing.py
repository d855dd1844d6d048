"""Standard Webhooks: the secrets of webhook channels and the signatures of their messages.

Every message carries three headers:

    webhook-id         msg_<hex>, the delivery's id: the same on every retry and resend, so
                       that a receiver can drop a message it already processed
    webhook-timestamp  the attempt's time, Unix seconds: a receiver refuses old ones (replays)
    webhook-signature  v1,<base64 of HMAC-SHA256("{id}.{timestamp}.{body}")>, keyed with the
                       base64-decoded part of the secret after `whsec_`; during a rotation one
                       signature per secret, space-separated, and a receiver accepts the
                       message when any one of them matches a secret it knows

The signature itself is the reference implementation's (the `standardwebhooks` package), so
that what a receiver verifies with it is what was signed here.
"""
from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
# the specification asks for 24 to 64 bytes of randomness
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret, `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_hint(secret: str) -> str:
    """What may be shown of a secret after its creation: enough to tell two apart, not to sign."""
    if not secret:
        return ""
    return secret[: len(SECRET_PREFIX) + 4] + "…"


def sign(secret: str, *, message_id: str, timestamp: int, body: str) -> str:
    """One `v1,<base64>` signature of the body with one secret."""
    return Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, tz=UTC), body)


def headers(*, message_id: str, timestamp: int, body: str, signing_secrets: Iterable[str]) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given (two while a
    secret rotates)."""
    signatures = [sign(secret, message_id=message_id, timestamp=timestamp, body=body)
                  for secret in signing_secrets if secret]
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": " ".join(signatures)}
