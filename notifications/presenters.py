"""Channels, rules and deliveries as the API shows them (camelCase, secrets hidden). A webhook
secret is shown in full only in the answer that made it (`secret=`); a Slack-compatible URL
carries its own token, so only its host is shown."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from notifications.kinds import ChannelKind
from notifications.models import Channel, Delivery, Rule
from notifications.signing import secret_hint


def url_shown(channel: Channel) -> str:
    if channel.kind != ChannelKind.SLACK or not channel.url:
        return channel.url
    parts = urlsplit(channel.url)
    return f"{parts.scheme}://{parts.hostname}/…"


def channel_to_dict(channel: Channel, *, secret: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": channel.pk, "name": channel.name, "kind": channel.kind, "organizationId": channel.organization_id,
        "emailAddresses": list(channel.email_addresses or []), "url": url_shown(channel),
        "secretHint": secret_hint(channel.secret),
        "previousSecretUntil": channel.previous_secret_until if channel.previous_secret else None,
        "enabled": channel.enabled, "createdAt": channel.created_at, "updatedAt": channel.updated_at,
    }
    if secret:
        data["secret"] = secret
    return data


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.pk, "name": rule.name, "event": rule.event, "organizationId": rule.organization_id,
        "projectId": rule.project_id, "jobType": rule.job_type or None, "queue": rule.queue or None,
        "threshold": rule.threshold, "windowSeconds": rule.window_seconds, "minJobs": rule.min_jobs,
        "channelIds": sorted(channel.pk for channel in rule.channels.all()),
        "throttleSeconds": rule.throttle_seconds, "digestSize": rule.digest_size, "enabled": rule.enabled,
        "lastMessageAt": rule.last_message_at,
        "waitingEvents": _waiting(rule), "firing": _firing(rule),
        "createdAt": rule.created_at, "updatedAt": rule.updated_at,
    }


def _waiting(rule: Rule) -> int:
    counted = getattr(rule, "waiting_events", None)  # annotated by selectors.rules_visible
    return counted if isinstance(counted, int) else rule.events.filter(sent_at__isnull=True).count()


def _firing(rule: Rule) -> list[str]:
    held = getattr(rule, "firing_conditions", None)  # prefetched by selectors.rules_visible
    if held is not None:
        return sorted(condition.key for condition in held)
    return sorted(rule.conditions.filter(active=True).values_list("key", flat=True))


def delivery_to_dict(delivery: Delivery, *, attempts: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": delivery.pk, "messageId": delivery.message_id, "ruleId": delivery.rule_id,
        "channelId": delivery.channel_id, "eventType": delivery.event_type, "eventCount": delivery.event_count,
        "subject": delivery.subject, "status": delivery.status, "jobId": delivery.job_id,
        "attemptCount": delivery.attempt_count, "lastStatusCode": delivery.last_status_code,
        "lastError": delivery.last_error, "createdAt": delivery.created_at, "sentAt": delivery.sent_at,
    }
    if attempts:
        data["attempts"] = [
            {"number": a.number, "startedAt": a.started_at, "outcome": a.outcome, "statusCode": a.status_code,
             "latencyMs": a.latency_ms, "error": a.error}
            for a in delivery.attempts.order_by("number")
        ]
    return data

