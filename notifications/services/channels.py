"""Channels created, changed, deleted, and their webhook secrets rotated.

A webhook channel gets a fresh `whsec_` secret at creation and at each rotation; the caller
shows it once (the API's answer, the admin's message) and it is never shown in full again.
A rotation keeps the previous secret signing beside the new one for
NOTIFICATIONS_SECRET_OVERLAP_HOURS, so that receivers can move over without losing a message.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import Organization
from notifications import signing
from notifications.errors import NotificationConflict
from notifications.kinds import ChannelKind
from notifications.models import Channel
from notifications.services import validation as valid

logger = logging.getLogger("conveyor.notifications")


@dataclass(frozen=True)
class ChannelSecret:
    """A channel and its new secret, shown once ("" for a channel that signs nothing)."""

    channel: Channel
    secret: str


def channel_create(
    *,
    name: str,
    kind: str,
    organization: Organization | None = None,
    email_addresses: Any = None,
    url: str | None = None,
    enabled: bool = True,
    created_by: Any = None,
    now: datetime | None = None,
) -> ChannelSecret:
    """Validate and store a channel; a webhook channel gets its signing secret."""
    kind = valid.choice("kind", kind, ChannelKind.values)
    addresses, target = valid.channel_target(kind, addresses=email_addresses, target=url)
    now = now or timezone.now()
    secret = signing.new_secret() if kind == ChannelKind.WEBHOOK else ""
    channel = Channel.objects.create(
        name=valid.name(name), kind=kind, organization=valid.organization(organization), email_addresses=addresses,
        url=target, secret=secret, enabled=valid.flag("enabled", enabled),
        created_by=created_by if getattr(created_by, "pk", None) else None, created_at=now, updated_at=now,
    )
    logger.info("%s created in %s", channel, f"organization {channel.organization_id}"
                if channel.organization_id else "the platform")
    return ChannelSecret(channel, secret)


def channel_update(*, channel: Channel, now: datetime | None = None, **changes: Any) -> Channel:
    """Change a channel's name, recipients or URL, or switch it on or off. Its kind and its
    organization stay: a channel of another kind or place is a new channel."""
    allowed = {"name", "email_addresses", "url", "enabled"}
    unknown = sorted(set(changes) - allowed - {"kind", "organization"})
    if unknown:
        raise valid.fail(unknown[0], "is not a field of a channel that can be changed")
    if "kind" in changes and changes["kind"] != channel.kind:
        raise valid.fail("kind", f"channel {channel.pk} is a {channel.kind} channel; create a new one for another kind")
    if "organization" in changes and getattr(changes["organization"], "pk", None) != channel.organization_id:
        raise valid.fail("organizationId", f"channel {channel.pk} stays in its organization; create a new one")
    fields: dict[str, Any] = {}
    if "name" in changes:
        fields["name"] = valid.name(changes["name"])
    if "enabled" in changes:
        fields["enabled"] = valid.flag("enabled", changes["enabled"])
    if "email_addresses" in changes or "url" in changes:
        addresses, target = valid.channel_target(
            channel.kind, addresses=changes.get("email_addresses", channel.email_addresses or None),
            target=changes.get("url", channel.url or None))
        fields.update(email_addresses=addresses, url=target)
    for key, value in fields.items():
        setattr(channel, key, value)
    channel.updated_at = now or timezone.now()
    channel.save(update_fields=[*fields, "updated_at"])
    return channel


def channel_rotate_secret(*, channel: Channel, now: datetime | None = None) -> ChannelSecret:
    """A new secret for a webhook channel; the previous one keeps signing beside it for
    NOTIFICATIONS_SECRET_OVERLAP_HOURS. NotificationConflict for a channel that signs nothing."""
    if channel.kind != ChannelKind.WEBHOOK:
        raise NotificationConflict(f"channel {channel.pk} is a {channel.kind} channel: only webhook channels have a "
                                   "signing secret", current=channel.kind)
    now = now or timezone.now()
    secret = signing.new_secret()
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        locked.previous_secret = locked.secret
        locked.previous_secret_until = now + timedelta(hours=settings.NOTIFICATIONS_SECRET_OVERLAP_HOURS)
        locked.secret = secret
        locked.updated_at = now
        locked.save(update_fields=["previous_secret", "previous_secret_until", "secret", "updated_at"])
    logger.info("%s: secret rotated; the previous one signs too until %s", locked, locked.previous_secret_until)
    return ChannelSecret(locked, secret)


def channel_delete(*, channel: Channel) -> None:
    """Delete a channel and its deliveries; rules that sent to it keep their other channels."""
    logger.info("%s deleted", channel)
    channel.delete()
