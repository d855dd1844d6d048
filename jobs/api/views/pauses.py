"""/api/pauses: which queues and job types are paused; pause and resume them.

Anyone signed in may read the pauses (they say why one's jobs wait); pausing and resuming
need the permission `jobs.pause_work`, which the services check (403 otherwise).
"""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers import StrictSerializer
from api.views import valid
from audit.actors import Actor, Source
from jobs import presenters, selectors, services
from jobs.api.views.common import JobsApiView, errors
from jobs.models import Pause, PauseKind


class PauseRequestSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=PauseKind.values, help_text="What to pause: a queue or a job type.")
    name = serializers.CharField(max_length=100, help_text="The queue's or the job type's name.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000,
                                   help_text="Why: shown on the jobs it holds back, and kept in the audit log.")
    until = serializers.DateTimeField(required=False, allow_null=True,
                                      help_text="When the pause ends by itself (ISO 8601); none: until resumed.")


def _pause_fields() -> dict[str, serializers.Field]:
    return {"kind": serializers.CharField(), "name": serializers.CharField(), "reason": serializers.CharField(),
            "pausedBy": serializers.CharField(), "pausedAt": serializers.DateTimeField(),
            "until": serializers.DateTimeField(allow_null=True)}


PAUSE_ANSWER = inline_serializer("Pause", _pause_fields())


def pause_to_dict(pause: Pause) -> dict[str, Any]:
    return {"kind": pause.kind, "name": pause.name, "reason": pause.reason, "pausedBy": pause.paused_by_name,
            "pausedAt": presenters.iso(pause.paused_at), "until": presenters.iso(pause.until)}


class PauseCollectionView(JobsApiView):
    @extend_schema(operation_id="pauses_list", summary="The pauses in force", request=None,
                   responses={200: inline_serializer("Pauses", {"pauses": inline_serializer("Pause", _pause_fields(),
                                                                                             many=True)}),
                              **errors()},
                   tags=["pauses"])
    def get(self, request: Request) -> Response:
        return Response({"pauses": [pause_to_dict(pause) for pause in selectors.active_pauses()]})

    @extend_schema(
        operation_id="pauses_create", summary="Pause a queue or a job type",
        description="No job of it starts until resumed (or until `until`); queued ones wait without spending an "
                    "attempt, running ones finish. Pausing what is paused changes its reason and end time.",
        request=PauseRequestSerializer, responses={201: PAUSE_ANSWER, **errors(400, 403)}, tags=["pauses"])
    def post(self, request: Request) -> Response:
        data = valid(PauseRequestSerializer, request.data).validated_data
        actor = Actor.from_request(request, Source.API, reason=data.get("reason", ""))
        pause = services.pause_set(kind=data["kind"], name=data["name"], until=data.get("until"), by=actor)
        return Response(pause_to_dict(pause), status=status.HTTP_201_CREATED)


class PauseDetailView(JobsApiView):
    @extend_schema(
        operation_id="pauses_resume", summary="Resume a paused queue or job type",
        description="Its waiting jobs are published at once. `reason` may come in the query string.",
        parameters=[OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=PauseKind.values),
                    OpenApiParameter("name", str, OpenApiParameter.PATH)],
        request=None, responses={200: inline_serializer("Resumed", {"published": serializers.IntegerField()}),
                                 **errors(400, 403)},
        tags=["pauses"])
    def delete(self, request: Request, kind: str, name: str) -> Response:
        actor = Actor.from_request(request, Source.API, reason=str(request.query_params.get("reason", ""))[:1000])
        published = services.pause_lift(kind=kind, name=name, by=actor)
        return Response({"published": published})
