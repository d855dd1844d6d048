"""The rules every writer of channels and rules applies (the API, the admin): each problem is a
NotificationValidationError naming the field, raised before anything is stored."""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from handlers.registry import get_handler, registered_types
from jobs.models import Organization, Project
from jobs.validation import is_int, is_number
from notifications import outbound
from notifications.errors import NotificationValidationError
from notifications.kinds import THRESHOLDS, WINDOWED, ChannelKind, EventKind, is_own_type
from notifications.models import Channel

MAX_RECIPIENTS = 50
MAX_THROTTLE = 7 * 24 * 3600
MAX_WINDOW = 30 * 24 * 3600
MIN_WINDOW = 60
MAX_DIGEST = 100


def fail(field: str, message: str) -> NotificationValidationError:
    return NotificationValidationError(field, message)


def name(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > 100 or not text.isprintable():
        raise fail("name", "give a name of 1 to 100 printable characters")
    return text


def choice(field: str, value: Any, choices: list[str]) -> str:
    if value not in choices:
        raise fail(field, f"{value!r} is not one of {', '.join(choices)}")
    return str(value)


def flag(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(field, f"{value!r} is not true or false")
    return value


def integer(field: str, value: Any, low: int, high: int) -> int:
    if not is_int(value) or not low <= value <= high:
        raise fail(field, f"{value!r} is not a whole number from {low} to {high}")
    return value


def organization(value: Any) -> Organization | None:
    if value is None or isinstance(value, Organization):
        return value
    raise fail("organization", f"{value!r} is not an organization")


def email_addresses(value: Any) -> list[str]:
    items = [part.strip() for part in value.replace("\n", ",").split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise fail("emailAddresses", "give a list of e-mail addresses")
    addresses = list(dict.fromkeys(item.strip() for item in items if item.strip()))
    if not addresses or len(addresses) > MAX_RECIPIENTS:
        raise fail("emailAddresses", f"give 1 to {MAX_RECIPIENTS} e-mail addresses")
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            raise fail("emailAddresses", f"{address!r} is not an e-mail address") from None
    return addresses


def url(value: Any) -> str:
    """A webhook URL of a valid form. An address is checked again at every send (a name may
    resolve elsewhere later); here only what needs no DNS lookup: an IP literal or localhost."""
    if not isinstance(value, str) or not value.strip():
        raise fail("url", "give the http:// or https:// URL to POST to")
    text = value.strip()
    if len(text) > 2000:
        raise fail("url", f"is {len(text)} characters long, over 2000")
    problem = outbound.url_problem(text)
    if problem is not None:
        raise fail("url", problem)
    host = urlsplit(text).hostname or ""
    if not settings.NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES:
        reason = "loopback" if host == "localhost" or host.endswith(".localhost") else None
        try:
            reason = reason or outbound.blocked_reason(ipaddress.ip_address(host))
        except ValueError:
            pass  # a name: checked when a message is sent
        if reason is not None:
            raise fail("url", f"{host} is a {reason} address; webhooks to private addresses are refused unless "
                              "NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES is on")
    return text


def channel_target(kind: str, *, addresses: Any, target: Any) -> tuple[list[str], str]:
    """(e-mail addresses, url) as the kind needs them: one or the other, never both."""
    if kind == ChannelKind.EMAIL:
        if target not in (None, ""):
            raise fail("url", "an e-mail channel takes emailAddresses, not a url")
        return email_addresses(addresses), ""
    if addresses not in (None, "", []):
        raise fail("emailAddresses", f"a {kind} channel takes a url, not emailAddresses")
    return [], url(target)


def job_type(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or is_own_type(value) or get_handler(value) is None:
        known = ", ".join(t for t in registered_types() if not is_own_type(t)) or "none"
        raise fail("jobType", f"unknown job type {value!r}; registered types: {known}")
    return value


def queue(value: Any) -> str:
    if value in (None, ""):
        return ""
    known = [*settings.JOBS_QUEUES, settings.JOBS_SYSTEM_QUEUE]
    if value not in known:
        raise fail("queue", f"{value!r} is not one of the queues ({', '.join(known)})")
    return str(value)


def project(value: Any, organization_id: int | None) -> Project | None:
    if value is None:
        return None
    if not isinstance(value, Project):
        raise fail("project", f"{value!r} is not a project")
    if value.organization_id != organization_id:
        where = f"organization {organization_id}" if organization_id else "no organization"
        raise fail("projectId", f"project {value.pk} is not in {where}, where the rule is")
    return value


def threshold(event: str, value: Any) -> float | None:
    if event not in THRESHOLDS:
        if value is not None:
            raise fail("threshold", f"{event} takes no threshold")
        return None
    meaning, low, high = THRESHOLDS[event]
    if value is None and event == EventKind.JOB_LOST:
        return 1.0
    if not is_number(value) or not low <= value <= high:
        raise fail("threshold", f"{event} needs a threshold from {low:g} to {high:g} ({meaning}); got {value!r}")
    return float(value)


def window(event: str, value: Any) -> int | None:
    if event not in WINDOWED:
        if value is not None:
            raise fail("windowSeconds", f"{event} takes no window")
        return None
    if value is None:
        raise fail("windowSeconds", f"{event} needs a window in seconds ({MIN_WINDOW} to {MAX_WINDOW})")
    return integer("windowSeconds", value, MIN_WINDOW, MAX_WINDOW)


def channels(values: Iterable[Any], organization_id: int | None) -> list[Channel]:
    found = list(values)
    if not found:
        raise fail("channelIds", "give at least one channel to send to")
    for channel in found:
        if not isinstance(channel, Channel):
            raise fail("channelIds", f"{channel!r} is not a channel")
        if channel.organization_id != organization_id:
            where = f"organization {organization_id}" if organization_id else "the platform (no organization)"
            raise fail("channelIds", f"channel {channel.pk} does not belong to {where}, where the rule is")
    return found


def event_scope(event: str, *, project_id: int | None, queue_name: str) -> None:
    """What a kind of event cannot be narrowed by."""
    if event == EventKind.SCHEDULE_MISSED:
        if project_id is not None:
            raise fail("projectId", "schedules belong to no project: a schedule.missed rule cannot name one")
        if queue_name:
            raise fail("queue", "schedules have no queue: a schedule.missed rule cannot name one")
