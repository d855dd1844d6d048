"""One try at sending a delivery, per channel kind; the outcome says whether another try may
succeed. Nothing here writes the database: `notifications.services.sending` records the try.

- webhook: a JSON body `{"type", "timestamp", "data"}` POSTed with the Standard Webhooks
  headers (`notifications.signing`);
- slack: `{"text": ...}`, the payload Slack's incoming webhooks, Mattermost's and Discord's
  Slack-compatible endpoint (`.../slack`) all take;
- email: Django's e-mail backend (SMTP to EMAIL_HOST by default).

A 2xx answer is sent; 408, 425, 429 and 5xx, a timeout or a refused connection are worth
another try (after Retry-After when the receiver gave one); any other answer, a redirect
included, is final, and so is an address the guard refuses.
"""
from __future__ import annotations

import json
import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from notifications import outbound, signing
from notifications.kinds import AttemptOutcome, ChannelKind
from notifications.models import Channel, Delivery

logger = logging.getLogger("conveyor.notifications")

RETRYABLE_CODES = frozenset({408, 425, 429})
MAX_RETRY_AFTER = 3600.0
MAX_ERROR = 1000


@dataclass(frozen=True)
class TryResult:
    outcome: str  # AttemptOutcome
    status_code: int | None = None
    error: str = ""
    retry: bool = False  # another try may succeed
    retry_after: float | None = None


def send(channel: Channel, delivery: Delivery, *, now: datetime) -> TryResult:
    """Try once to send the delivery to its channel."""
    if channel.kind == ChannelKind.EMAIL:
        return _send_email(channel, delivery)
    if channel.kind == ChannelKind.SLACK:
        body = json.dumps({"text": _slack_text(delivery)}, separators=(",", ":"), ensure_ascii=False)
        return _post(channel.url, body, {})
    if channel.kind == ChannelKind.WEBHOOK:
        body = webhook_body(delivery)
        headers = signing.headers(message_id=delivery.message_id, timestamp=int(now.timestamp()), body=body,
                                  signing_secrets=signing_secrets(channel, now))
        return _post(channel.url, body, headers)
    return TryResult(AttemptOutcome.REFUSED, error=f"channel {channel.pk} has an unknown kind {channel.kind!r}")


def webhook_body(delivery: Delivery) -> str:
    """The exact text a webhook receives and the signature covers, the same on every try."""
    envelope = {"type": delivery.event_type, "timestamp": delivery.created_at.isoformat(), "data": delivery.payload}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def signing_secrets(channel: Channel, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one while the rotation lasts."""
    found = [channel.secret]
    if channel.previous_secret and channel.previous_secret_until and channel.previous_secret_until > now:
        found.append(channel.previous_secret)
    return [secret for secret in found if secret]


def _slack_text(delivery: Delivery) -> str:
    # Slack's text format gives &, < and > a meaning of their own: escaped, as its docs ask
    text = f"*{delivery.subject}*\n{delivery.text}"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _post(url: str, body: str, headers: dict[str, str]) -> TryResult:
    try:
        target = outbound.resolve(url)
    except outbound.AddressRefused as exc:
        return TryResult(AttemptOutcome.REFUSED, error=str(exc)[:MAX_ERROR])
    except outbound.Unreachable as exc:
        return TryResult(AttemptOutcome.FAILED, error=str(exc)[:MAX_ERROR], retry=True)
    try:
        answer = outbound.post(target, body.encode("utf-8"),
                               {**headers, "Content-Type": "application/json", "User-Agent": "Conveyor-Notifications"})
    except outbound.Unreachable as exc:
        return TryResult(AttemptOutcome.FAILED, error=str(exc)[:MAX_ERROR], retry=True)
    if 200 <= answer.status < 300:
        return TryResult(AttemptOutcome.SENT, status_code=answer.status)
    said = answer.body[:300].decode("utf-8", "replace").strip()
    error = f"{target.host} answered {answer.status}" + (f": {said}" if said else "")
    if 300 <= answer.status < 400:
        error += f" (a redirect to {answer.headers.get('location', '?')}, which is not followed)"
        return TryResult(AttemptOutcome.FAILED, status_code=answer.status, error=error[:MAX_ERROR])
    retry = answer.status >= 500 or answer.status in RETRYABLE_CODES
    return TryResult(AttemptOutcome.FAILED, status_code=answer.status, error=error[:MAX_ERROR], retry=retry,
                     retry_after=_retry_after(answer.headers.get("retry-after")) if retry else None)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds (a date is ignored: the backoff applies)."""
    if not value or not value.strip().isdigit():
        return None
    return min(float(value.strip()), MAX_RETRY_AFTER)


def _send_email(channel: Channel, delivery: Delivery) -> TryResult:
    message = EmailMessage(
        subject=delivery.subject, body=delivery.text, from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(channel.email_addresses),
        headers={"X-Conveyor-Delivery": delivery.message_id, "X-Conveyor-Event": delivery.event_type},
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT),
    )
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        return TryResult(AttemptOutcome.FAILED, error=f"the mail server refused {refused}"[:MAX_ERROR])
    except (smtplib.SMTPException, OSError) as exc:
        code = getattr(exc, "smtp_code", None)
        permanent = isinstance(code, int) and 500 <= code < 600
        return TryResult(AttemptOutcome.FAILED, status_code=code if isinstance(code, int) else None,
                         error=f"e-mail to {settings.EMAIL_HOST}:{settings.EMAIL_PORT}: {exc}"[:MAX_ERROR],
                         retry=not permanent)
    return TryResult(AttemptOutcome.SENT)
