"""What the notifications API reads and answers, in the jobs API's camelCase.

The bodies check types and shapes; the meaning (a URL the guard accepts, e-mail addresses, a
threshold that suits the event, channels of the rule's organization) is checked by
`notifications.services`, whose errors name the same fields.
"""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.serializers import API_MAX_LIMIT, MAX_ID, MAX_OFFSET, StrictSerializer
from notifications.kinds import DeliveryStatus, EventKind


def _choice(choices: list[str], **kwargs: Any) -> serializers.ChoiceField:
    message = f'"{{input}}" is not one of {", ".join(choices)}'
    return serializers.ChoiceField(choices=choices, error_messages={"invalid_choice": message}, **kwargs)


def _id(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class NotificationListQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=API_MAX_LIMIT, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0)


class NotificationDeliveryListQuerySerializer(NotificationListQuerySerializer):
    status = _choice(DeliveryStatus.values, required=False)
    ruleId = _id(required=False)
    channelId = _id(required=False)


# --- bodies ----------------------------------------------------------------------------------


class NotificationChannelWriteSerializer(StrictSerializer):
    """POST (name and kind required, then emailAddresses or url) and PATCH (any subset)."""

    name = serializers.CharField(max_length=100)
    # text rather than an enum: the schema's enum of this name is the schedules' kind
    kind = serializers.CharField(max_length=16, help_text="email, slack (Slack-compatible: Slack, Mattermost, "
                                                          "Discord's /slack endpoint) or webhook (signed, Standard "
                                                          "Webhooks)")
    organizationId = _id(required=False, allow_null=True,
                         help_text="Its organization (you must be an admin there); null: platform-wide (staff).")
    emailAddresses = serializers.ListField(child=serializers.CharField(max_length=254), required=False,
                                           allow_null=True, max_length=50, help_text="email: the recipients.")
    url = serializers.CharField(max_length=2000, required=False, allow_null=True, allow_blank=True,
                                help_text="slack and webhook: where to POST (http or https).")
    enabled = serializers.BooleanField(required=False)


class NotificationRuleWriteSerializer(StrictSerializer):
    """POST (name, event, channelIds required) and PATCH (any subset)."""

    name = serializers.CharField(max_length=100)
    event = _choice(EventKind.values)
    organizationId = _id(required=False, allow_null=True,
                         help_text="Its organization (you must be an admin there); null: platform-wide (staff).")
    projectId = _id(required=False, allow_null=True, help_text="Only this project's jobs.")
    jobType = serializers.CharField(max_length=100, required=False, allow_blank=True, allow_null=True,
                                    help_text="Only this job type.")
    queue = serializers.CharField(max_length=100, required=False, allow_blank=True, allow_null=True,
                                  help_text="Only this queue (queue.no_consumer: this queue must have a consumer).")
    threshold = serializers.FloatField(required=False, allow_null=True,
                                       help_text="job.lost: times (default 1); queue.backlog: due jobs; "
                                                 "jobs.failure_rate: percent.")
    windowSeconds = serializers.IntegerField(required=False, allow_null=True, help_text="jobs.failure_rate only.")
    minJobs = serializers.IntegerField(required=False, help_text="jobs.failure_rate: the fewest finished jobs "
                                                                 "for the rate to count (default 10).")
    channelIds = serializers.ListField(child=_id(), max_length=50, help_text="Channels of the rule's organization.")
    throttleSeconds = serializers.IntegerField(required=False, help_text="At most one message per window "
                                                                         "(default 300; 0: one per event).")
    digestSize = serializers.IntegerField(required=False, help_text="Events listed in a digest (default 10).")
    enabled = serializers.BooleanField(required=False)


# --- answers ---------------------------------------------------------------------------------


class NotificationChannelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField(help_text="email, slack or webhook")
    organizationId = serializers.IntegerField(allow_null=True)
    emailAddresses = serializers.ListField(child=serializers.CharField())
    url = serializers.CharField(help_text="webhook: the URL; slack: its host only (the URL is a secret).")
    secret = serializers.CharField(required=False, help_text="webhook: the signing secret, in the answer that "
                                                             "created or rotated it only.")
    secretHint = serializers.CharField(help_text="webhook: the start of the secret, to tell secrets apart.")
    previousSecretUntil = serializers.DateTimeField(allow_null=True, help_text="During a rotation: the previous "
                                                                               "secret signs too until then.")
    enabled = serializers.BooleanField()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


class NotificationRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    event = serializers.ChoiceField(choices=EventKind.values)
    organizationId = serializers.IntegerField(allow_null=True)
    projectId = serializers.IntegerField(allow_null=True)
    jobType = serializers.CharField(allow_null=True)
    queue = serializers.CharField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)
    windowSeconds = serializers.IntegerField(allow_null=True)
    minJobs = serializers.IntegerField()
    channelIds = serializers.ListField(child=serializers.IntegerField())
    throttleSeconds = serializers.IntegerField()
    digestSize = serializers.IntegerField()
    enabled = serializers.BooleanField()
    lastMessageAt = serializers.DateTimeField(allow_null=True)
    waitingEvents = serializers.IntegerField(help_text="Events waiting for the throttle window to reopen.")
    firing = serializers.ListField(child=serializers.CharField(), help_text="Condition keys holding now.")
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


class NotificationAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    startedAt = serializers.DateTimeField()
    outcome = serializers.CharField()
    statusCode = serializers.IntegerField(allow_null=True)
    latencyMs = serializers.FloatField()
    error = serializers.CharField()


class NotificationDeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    messageId = serializers.CharField(help_text="The webhook-id header: msg_<hex>.")
    ruleId = serializers.IntegerField(allow_null=True)
    channelId = serializers.IntegerField()
    eventType = serializers.CharField()
    eventCount = serializers.IntegerField()
    subject = serializers.CharField()
    status = serializers.CharField(help_text="pending, retrying, sent, failed or refused")
    jobId = serializers.UUIDField(allow_null=True)
    attemptCount = serializers.IntegerField()
    lastStatusCode = serializers.IntegerField(allow_null=True)
    lastError = serializers.CharField()
    createdAt = serializers.DateTimeField()
    sentAt = serializers.DateTimeField(allow_null=True)
    attempts = NotificationAttemptSerializer(many=True, required=False)


class NotificationPaginationSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    hasNext = serializers.BooleanField()


class NotificationChannelPageSerializer(serializers.Serializer):
    channels = NotificationChannelSerializer(many=True)
    pagination = NotificationPaginationSerializer()


class NotificationRulePageSerializer(serializers.Serializer):
    rules = NotificationRuleSerializer(many=True)
    pagination = NotificationPaginationSerializer()


class NotificationDeliveryPageSerializer(serializers.Serializer):
    deliveries = NotificationDeliverySerializer(many=True)
    pagination = NotificationPaginationSerializer()
