"""/api/jobs/bulk...: create many jobs of one type at once; cancel or retry many jobs, by ids
or by the list's filters."""
from __future__ import annotations

import uuid
from typing import Any, ClassVar, Literal

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import error_body
from api.views import valid
from audit.actors import Actor, Source
from jobs import selectors, services
from jobs.api import serializers as s
from jobs.api.permissions import viewer
from jobs.api.views.common import JobsApiView, errors
from jobs.conf import conf
from jobs.errors import JobNotFound


class JobBulkCreateView(JobsApiView):
    """POST: many jobs of one type in one transaction, published in one batch."""

    @extend_schema(
        operation_id="jobs_create_bulk",
        summary="Create many jobs",
        description="All or nothing: an invalid input refuses the whole batch (400 naming its index), and "
                    "the quota must have room for every job (429 otherwise).",
        request=s.JobBulkCreateSerializer,
        responses={201: s.JobsCreatedSerializer, **errors(400, 403, 413, 429)},
        tags=["jobs"],
    )
    def post(self, request: Request) -> Response:
        data = valid(s.JobBulkCreateSerializer, request.data).validated_data
        who = viewer(request)
        project = who.project(data["projectId"], in_body=True) if data.get("projectId") is not None else None
        organization = who.organization(data["orgId"], in_body=True) if data.get("orgId") is not None else None
        jobs = services.jobs_submit_bulk(user=request.user, type=data["type"], inputs=data["inputs"],
                                         organization=organization, project=project, priority=data.get("priority"))
        return Response({"created": len(jobs), "ids": [str(job.pk) for job in jobs]}, status=status.HTTP_201_CREATED)


class JobBulkView(JobsApiView):
    """POST: cancel or retry many jobs, by ids or by the list's filters."""

    action: ClassVar[Literal["cancel", "retry"]] = "cancel"

    def post(self, request: Request) -> Response:
        body = valid(s.BulkActionSerializer, request.data)
        who = viewer(request)
        errors: list[dict[str, Any]] = []
        ids = body.validated_data.get("ids")
        if ids is not None:
            visible = set(who.visible_jobs().filter(pk__in=ids).values_list("pk", flat=True))
            allowed = set(who.actionable_jobs().filter(pk__in=ids).values_list("pk", flat=True))
            errors = self._refused(ids, visible=visible, allowed=allowed)
            targets, has_more = [job_id for job_id in ids if job_id in allowed], False
        else:
            targets, has_more = selectors.job_ids_for_action(
                user=request.user, action=self.action, limit=conf.api_bulk_max,
                memberships=who.memberships, **body.selector_filters(),
            )
        bulk = services.jobs_cancel_bulk if self.action == "cancel" else services.jobs_retry_bulk
        actor = Actor.from_request(request, Source.API, reason=body.validated_data.get("reason", ""))
        outcome = bulk(job_ids=targets, by=actor)
        errors += [self._error(job_id, exc) for job_id, exc in outcome.refused]
        return Response({
            "changed": len(outcome.changed),
            "ids": [str(job_id) for job_id in outcome.changed],
            "errors": errors,
            "hasMore": has_more,
        })

    def _refused(self, ids: list[uuid.UUID], *, visible: set[uuid.UUID],
                 allowed: set[uuid.UUID]) -> list[dict[str, Any]]:
        """An error per id the user may not see (404) or may see but not act on (403)."""
        refused = []
        for job_id in ids:
            if job_id not in visible:
                refused.append(self._error(job_id, JobNotFound(job_id)))
            elif job_id not in allowed:
                refused.append(_bulk_error(job_id, status.HTTP_403_FORBIDDEN, {
                    "code": "permission_denied",
                    "detail": f"you may not {self.action} job {job_id}: only its creator, an admin of its "
                              "organization or staff may",
                }))
        return refused

    def _error(self, job_id: Any, exc: BaseException) -> dict[str, Any]:
        return _bulk_error(job_id, *error_body(exc, field_names=self.service_field_names))


def _bulk_error(job_id: Any, http_status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(job_id), "status": http_status, "code": body["code"], "detail": body["detail"]}


_BULK_DESCRIPTION = (
    "By `ids`, or by the list's filters (at least one): with filters, the jobs you may act on that match, "
    "in a status the action starts from, oldest first, at most JOBS_API_BULK_MAX per request (`hasMore`)."
)


@extend_schema_view(post=extend_schema(
    operation_id="jobs_bulk_cancel", summary="Cancel many jobs", description=_BULK_DESCRIPTION,
    request=s.BulkActionSerializer, responses={200: s.BulkResultSerializer, **errors(400, 413)}, tags=["jobs"],
))
class JobBulkCancelView(JobBulkView):
    action = "cancel"


@extend_schema_view(post=extend_schema(
    operation_id="jobs_bulk_retry", summary="Retry many jobs", description=_BULK_DESCRIPTION,
    request=s.BulkActionSerializer, responses={200: s.BulkResultSerializer, **errors(400, 413)}, tags=["jobs"],
))
class JobBulkRetryView(JobBulkView):
    action = "retry"
