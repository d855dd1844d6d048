"""The notifications API: channels and rules (create, list, read, change, delete), a webhook
channel's secret rotated, deliveries listed and sent again. Check the request, read through
`notifications.selectors`, write through `notifications.services`; every error is answered
by `api.errors` in the jobs API's format.

Access (`notifications.selectors.access`): members of an organization see its channels, rules
and deliveries, its admins change them; platform-wide ones (no organization) are staff's;
staff see and change everything. A row one may not see answers 404; one that can be seen but
not changed, 403. A webhook secret is in the answer that created or rotated it, never after.
"""
from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.permissions import no_such_organization
from api.schema import error_responses
from api.views import ApiView, path_id, valid
from jobs import selectors as job_selectors
from jobs.models import Organization
from notifications import presenters, selectors, services
from notifications.api import serializers as s
from notifications.models import Channel, Rule

_ERROR_TEXT = {
    400: "A parameter or field is invalid (a URL, an e-mail address, a threshold...); `field` names it.",
    403: "Signed in, but not allowed: only an organization's admins (and staff) change its channels and rules; "
         "platform-wide ones are staff's.",
    404: "No such channel, rule or delivery (or not one you may see).",
    409: "The row's state forbids it: resending a delivery still on its way, rotating a channel with no secret.",
    413: "The body is over the size limit.",
}
ID = OpenApiParameter("id", OpenApiTypes.INT64, OpenApiParameter.PATH, description="The row's id.")
TAGS = ["notifications"]

# the body's names -> the services' keywords
_CHANNEL_FIELDS = {"name": "name", "kind": "kind", "emailAddresses": "email_addresses", "url": "url",
                   "enabled": "enabled", "organizationId": "organization"}
_RULE_FIELDS = {"name": "name", "event": "event", "organizationId": "organization", "projectId": "project",
                "jobType": "job_type", "queue": "queue", "threshold": "threshold", "windowSeconds": "window_seconds",
                "minJobs": "min_jobs", "throttleSeconds": "throttle_seconds", "digestSize": "digest_size",
                "enabled": "enabled", "channelIds": "channels"}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return error_responses(_ERROR_TEXT, *codes)


class NotificationsApiView(ApiView):
    # errors name fields as the client typed them
    service_field_names: ClassVar[dict[str, str]] = {
        **{service: client for client, service in {**_CHANNEL_FIELDS, **_RULE_FIELDS}.items()},
        "channels": "channelIds"}


# --- helpers ------------------------------------------------------------------------------------


def _page(request: Request, queryset: QuerySet[Any], key: str, present: Any) -> Response:
    query = valid(s.NotificationListQuerySerializer, request.query_params).validated_data
    offset, limit = query["offset"], query["limit"]
    total = queryset.count()
    rows = list(queryset[offset:offset + limit])
    return Response({key: [present(row) for row in rows],
                     "pagination": {"total": total, "offset": offset, "limit": limit,
                                    "hasNext": offset + len(rows) < total}})


def _require_manage(request: Request, organization_id: int | None, what: str) -> None:
    if not selectors.may_manage(user=request.user, organization_id=organization_id):
        where = f"organization {organization_id}'s" if organization_id else "platform-wide"
        raise exceptions.PermissionDenied(f"you may not {what}: only staff and the admins of an organization manage "
                                          f"its channels and rules (this is {where})")


def _organization(request: Request, data: dict[str, Any]) -> Organization | None:
    """The body's organization, which the requester must manage (staff: any; none: staff)."""
    org_id = data.get("organizationId")
    org = None
    if org_id is not None:
        org = job_selectors.organization_get(organization_id=org_id)
        if org is None:
            raise no_such_organization(org_id, body_field="organizationId")
    _require_manage(request, org_id, "create it there" if org_id else
                    "create a platform-wide one (give organizationId)")
    return org


def _arguments(data: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names[key]: value for key, value in data.items() if key != "organizationId"}


def _rule_references(request: Request, arguments: dict[str, Any]) -> dict[str, Any]:
    """A rule body's projectId and channelIds as rows; 400 naming the field for one that
    does not exist (or that the requester may not see)."""
    if arguments.get("project") is not None:
        # another organization's project is "no project", as a missing one: ids are not probed
        project = selectors.projects_visible(user=request.user).filter(pk=arguments["project"]).first()
        if project is None:
            raise exceptions.ValidationError({"projectId": [f"no project {arguments['project']}"]})
        arguments["project"] = project
    if "channels" in arguments:
        ids = list(dict.fromkeys(arguments["channels"]))
        found = {c.pk: c for c in selectors.channels_visible(user=request.user).filter(pk__in=ids)}
        missing = [pk for pk in ids if pk not in found]
        if missing:
            raise exceptions.ValidationError({"channelIds": [f"no channel {missing[0]}"]})
        arguments["channels"] = [found[pk] for pk in ids]
    for key in ("job_type", "queue"):
        if key in arguments and arguments[key] is None:
            arguments[key] = ""
    return arguments


# --- channels -----------------------------------------------------------------------------------


class ChannelCollectionView(NotificationsApiView):
    """GET: the channels you may see; POST: create one."""

    @extend_schema(operation_id="notification_channels_list", summary="List notification channels",
                   parameters=[s.NotificationListQuerySerializer],
                   responses={200: s.NotificationChannelPageSerializer, **_errors(400)},
                   tags=TAGS)
    def get(self, request: Request) -> Response:
        return _page(request, selectors.channels_visible(user=request.user), "channels", presenters.channel_to_dict)

    @extend_schema(operation_id="notification_channels_create", summary="Create a notification channel",
                   description="A webhook channel's signing secret (whsec_...) is in this answer only.",
                   request=s.NotificationChannelWriteSerializer,
                   responses={201: s.NotificationChannelSerializer, **_errors(400, 403, 413)},
                   tags=TAGS)
    def post(self, request: Request) -> Response:
        data = valid(s.NotificationChannelWriteSerializer, request.data).validated_data
        org = _organization(request, data)
        made = services.channel_create(organization=org, created_by=request.user,
                                       **_arguments(data, _CHANNEL_FIELDS))
        return Response(presenters.channel_to_dict(made.channel, secret=made.secret), status=status.HTTP_201_CREATED)


def _channel(request: Request, channel_id: str, *, manage: str = "") -> Channel:
    channel = selectors.channel_get(channel_id=path_id(channel_id, "id"), user=request.user)
    if manage:
        _require_manage(request, channel.organization_id, f"{manage} channel {channel.pk}")
    return channel


class ChannelDetailView(NotificationsApiView):
    """GET, PATCH, DELETE one channel."""

    @extend_schema(operation_id="notification_channels_retrieve", summary="One notification channel",
                   parameters=[ID], responses={200: s.NotificationChannelSerializer, **_errors(400, 404)}, tags=TAGS)
    def get(self, request: Request, id: str) -> Response:
        return Response(presenters.channel_to_dict(_channel(request, id)))

    @extend_schema(operation_id="notification_channels_update", summary="Change a notification channel",
                   description="Its name, recipients or URL, or enabled. Its kind and organization stay.",
                   parameters=[ID], request=s.NotificationChannelWriteSerializer(partial=True),
                   responses={200: s.NotificationChannelSerializer, **_errors(400, 403, 404, 413)}, tags=TAGS)
    def patch(self, request: Request, id: str) -> Response:
        channel = _channel(request, id, manage="change")
        data = valid(s.NotificationChannelWriteSerializer, request.data, partial=True).validated_data
        changes = _arguments(data, _CHANNEL_FIELDS)
        if "organizationId" in data:
            changes["organization"] = Organization(pk=data["organizationId"]) if data["organizationId"] else None
        return Response(presenters.channel_to_dict(services.channel_update(channel=channel, **changes)))

    @extend_schema(operation_id="notification_channels_delete", summary="Delete a notification channel",
                   description="With its deliveries; rules that sent to it keep their other channels.",
                   parameters=[ID], responses={204: None, **_errors(400, 403, 404)}, tags=TAGS)
    def delete(self, request: Request, id: str) -> Response:
        services.channel_delete(channel=_channel(request, id, manage="delete"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelRotateSecretView(NotificationsApiView):
    @extend_schema(operation_id="notification_channels_rotate_secret", summary="Rotate a webhook channel's secret",
                   description="A new secret, in this answer only; the previous one signs beside it for "
                               "NOTIFICATIONS_SECRET_OVERLAP_HOURS (two signatures per message).",
                   parameters=[ID], request=None,
                   responses={200: s.NotificationChannelSerializer, **_errors(400, 403, 404, 409)},
                   tags=TAGS)
    def post(self, request: Request, id: str) -> Response:
        made = services.channel_rotate_secret(channel=_channel(request, id, manage="rotate the secret of"))
        return Response(presenters.channel_to_dict(made.channel, secret=made.secret))


# --- rules --------------------------------------------------------------------------------------


class RuleCollectionView(NotificationsApiView):
    """GET: the rules you may see; POST: create one."""

    @extend_schema(operation_id="notification_rules_list", summary="List notification rules",
                   parameters=[s.NotificationListQuerySerializer],
                   responses={200: s.NotificationRulePageSerializer, **_errors(400)},
                   tags=TAGS)
    def get(self, request: Request) -> Response:
        return _page(request, selectors.rules_visible(user=request.user), "rules", presenters.rule_to_dict)

    @extend_schema(operation_id="notification_rules_create", summary="Create a notification rule",
                   request=s.NotificationRuleWriteSerializer,
                   responses={201: s.NotificationRuleSerializer, **_errors(400, 403, 413)},
                   tags=TAGS)
    def post(self, request: Request) -> Response:
        data = valid(s.NotificationRuleWriteSerializer, request.data).validated_data
        org = _organization(request, data)
        arguments = _rule_references(request, _arguments(data, _RULE_FIELDS))
        rule = services.rule_create(organization=org, created_by=request.user, **arguments)
        return Response(presenters.rule_to_dict(rule), status=status.HTTP_201_CREATED)


def _rule(request: Request, rule_id: str, *, manage: str = "") -> Rule:
    rule = selectors.rule_get(rule_id=path_id(rule_id, "id"), user=request.user)
    if manage:
        _require_manage(request, rule.organization_id, f"{manage} rule {rule.pk}")
    return rule


class RuleDetailView(NotificationsApiView):
    """GET, PATCH, DELETE one rule."""

    @extend_schema(operation_id="notification_rules_retrieve", summary="One notification rule",
                   parameters=[ID], responses={200: s.NotificationRuleSerializer, **_errors(400, 404)}, tags=TAGS)
    def get(self, request: Request, id: str) -> Response:
        return Response(presenters.rule_to_dict(_rule(request, id)))

    @extend_schema(operation_id="notification_rules_update", summary="Change a notification rule",
                   description="Any field of POST but event and organizationId. A new throttle applies to the "
                               "window in progress.",
                   parameters=[ID], request=s.NotificationRuleWriteSerializer(partial=True),
                   responses={200: s.NotificationRuleSerializer, **_errors(400, 403, 404, 413)}, tags=TAGS)
    def patch(self, request: Request, id: str) -> Response:
        rule = _rule(request, id, manage="change")
        data = valid(s.NotificationRuleWriteSerializer, request.data, partial=True).validated_data
        arguments = _rule_references(request, _arguments(data, _RULE_FIELDS))
        if "organizationId" in data:
            arguments["organization"] = Organization(pk=data["organizationId"]) if data["organizationId"] else None
        return Response(presenters.rule_to_dict(services.rule_update(rule=rule, **arguments)))

    @extend_schema(operation_id="notification_rules_delete", summary="Delete a notification rule",
                   parameters=[ID], responses={204: None, **_errors(400, 403, 404)}, tags=TAGS)
    def delete(self, request: Request, id: str) -> Response:
        services.rule_delete(rule=_rule(request, id, manage="delete"))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- deliveries ---------------------------------------------------------------------------------

DELIVERY_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The delivery's id.")


class DeliveryCollectionView(NotificationsApiView):
    @extend_schema(operation_id="notification_deliveries_list", summary="List deliveries, newest first",
                   parameters=[s.NotificationDeliveryListQuerySerializer],
                   responses={200: s.NotificationDeliveryPageSerializer, **_errors(400)}, tags=TAGS)
    def get(self, request: Request) -> Response:
        query = valid(s.NotificationDeliveryListQuerySerializer, request.query_params).validated_data
        deliveries = selectors.deliveries_visible(user=request.user)
        for name, field in (("status", "status"), ("ruleId", "rule_id"), ("channelId", "channel_id")):
            if query.get(name) is not None:
                deliveries = deliveries.filter(**{field: query[name]})
        return _page(request, deliveries, "deliveries", presenters.delivery_to_dict)


def _delivery(request: Request, delivery_id: str) -> Any:
    return selectors.delivery_get(delivery_id=delivery_id, user=request.user)


class DeliveryDetailView(NotificationsApiView):
    @extend_schema(operation_id="notification_deliveries_retrieve", summary="One delivery, with its attempts",
                   parameters=[DELIVERY_ID],
                   responses={200: s.NotificationDeliverySerializer, **_errors(404)}, tags=TAGS)
    def get(self, request: Request, id: str) -> Response:
        return Response(presenters.delivery_to_dict(_delivery(request, id), attempts=True))


class DeliveryResendView(NotificationsApiView):
    @extend_schema(operation_id="notification_deliveries_resend", summary="Send a delivery again",
                   description="The same message and webhook-id, by a new job; 409 while it is still on its way.",
                   parameters=[DELIVERY_ID], request=None,
                   responses={202: s.NotificationDeliverySerializer, **_errors(403, 404, 409)}, tags=TAGS)
    def post(self, request: Request, id: str) -> Response:
        delivery = _delivery(request, id)
        _require_manage(request, delivery.channel.organization_id, f"resend delivery {delivery.pk}")
        resent = services.delivery_resend(delivery=delivery)
        return Response(presenters.delivery_to_dict(resent, attempts=True), status=status.HTTP_202_ACCEPTED)
