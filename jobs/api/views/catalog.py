"""What a user can create: the job types (/api/job-types) and their own quotas (/api/quotas/me)."""
from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from handlers.registry import all_handlers
from jobs import quotas
from jobs.api import serializers as s
from jobs.api.views.common import JobsApiView, errors
from jobs.conf import conf


class JobTypesView(JobsApiView):
    @extend_schema(operation_id="job_types_list", summary="The job types you can create",
                   responses={200: s.JobTypeListSerializer, **errors()}, tags=["job types"])
    def get(self, request: Request) -> Response:
        types = [
            {
                "type": spec.type,
                "description": spec.description,
                "queue": spec.queue,
                "policy": spec.policy(),
                "inputSchema": spec.schema.model_json_schema() if spec.schema is not None else None,
            }
            for spec in all_handlers()
            if spec.tracked  # an untracked type has no Job row: nobody creates it through the API
        ]
        return Response({"jobTypes": types})


class QuotaView(JobsApiView):
    @extend_schema(operation_id="quotas_me", summary="Your job quotas and how much of them is used",
                   responses={200: s.QuotaSerializer, **errors()}, tags=["quotas"])
    def get(self, request: Request) -> Response:
        scopes = []
        for quota in quotas.quota_overview(user=request.user):
            figures = {window.period: window for window in quota.windows}
            scopes.append({
                "orgId": quota.organization.pk if quota.organization is not None else None,
                "orgName": quota.organization.name if quota.organization is not None else None,
                "limits": _figures(figures, lambda w: w.limit),
                "used": _figures(figures, lambda w: w.used),
                "remaining": _figures(figures, lambda w: w.remaining),
                "maxPayloadBytes": quota.max_payload_bytes,
                "retryAfter": _retry_after(quota),
            })
        return Response({
            "exempt": quotas.is_exempt(request.user),
            "maxBodyBytes": conf.api_max_body_bytes,
            "scopes": scopes,
        })


def _figures(windows: dict[str, quotas.QuotaWindow], value: Any) -> dict[str, Any]:
    return {"perMinute": value(windows["minute"]), "perHour": value(windows["hour"]), "perDay": value(windows["day"])}


def _retry_after(quota: quotas.QuotaStatus) -> int | None:
    window = None if quota.exempt else quota.exceeded()
    if window is None or window.retry_after is None:
        return None
    return max(1, math.ceil(window.retry_after))
