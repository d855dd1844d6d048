"""The API's views: validate the request, ask the request's Viewer (`jobs.api.permissions`)
what the user may see and do, read through `jobs.selectors`, write through `jobs.services`,
answer in the seeds' shapes. No business logic here; every platform error is answered by
`jobs.api.errors`.
"""
from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import presenters, quotas, selectors, services
from jobs.api import serializers as s
from jobs.api.errors import error_body
from jobs.api.parsers import check_declared_length
from jobs.api.permissions import viewer
from jobs.errors import JobNotFound, JobValidationError
from jobs.models import Job, Organization, Project
from jobs.selectors import JobPage
from jobs.states import JobStatus

# --- schema helpers --------------------------------------------------------------------------

_ERROR_TEXT = {
    400: "A parameter or field is invalid; `field` names it.",
    401: "Not signed in: send `Authorization: Bearer <token>` or use a session.",
    403: "Signed in, but not allowed (an organization you are not a member of; a job you may only see).",
    404: "No such job (or not one you may see), project or organization.",
    409: "The job's status does not allow this; `currentStatus` says what it is.",
    413: "The body or the job's input is over the size limit.",
    429: "A quota is used up: wait `Retry-After` seconds.",
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(s.ErrorSerializer, description=_ERROR_TEXT[code]) for code in (401, *codes)}


JOB_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job's id.")
PROJECT_ID = OpenApiParameter("projectId", OpenApiTypes.INT64, OpenApiParameter.PATH, description="A project id.")
ORG_ID = OpenApiParameter("orgId", OpenApiTypes.INT64, OpenApiParameter.PATH, description="An organization id.")


# --- helpers ---------------------------------------------------------------------------------


def _valid(serializer_class: type[drf_serializers.Serializer], data: Any) -> Any:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer


def _path_id(raw: str, name: str) -> int:
    """A numeric id from the path; 400 naming the parameter otherwise."""
    text = str(raw).strip()
    if not text.isdigit() or not 1 <= int(text) <= s.MAX_ID:
        raise JobValidationError(name, f"{raw!r} is not an id (a positive integer)")
    return int(text)


def _page(page: JobPage) -> dict[str, Any]:
    return {
        "jobs": [presenters.job_to_dict(job) for job in page.items],
        "pagination": {
            "total": page.total,
            "totalIsExact": page.total_is_exact,
            "offset": page.offset,
            "limit": page.limit,
            "hasNext": page.has_next,
        },
    }


def _list(request: Request, query_class: type[s.JobListQuerySerializer], **scope: Any) -> Response:
    query = _valid(query_class, request.query_params)
    arguments = {**query.selector_arguments(), **scope}
    page = selectors.job_list(visible_to=request.user, memberships=viewer(request).memberships,
                              exact_total_max=settings.JOBS_API_EXACT_TOTAL_MAX, **arguments)
    return Response(_page(page))


def _create(request: Request, body_class: type[s.JobCreateSerializer], organization: Organization | None) -> Response:
    data = _valid(body_class, request.data).validated_data
    who = viewer(request)
    project: Project | None = None
    if data.get("projectId") is not None:
        project = who.project(data["projectId"], in_body=True)
    if organization is None and data.get("orgId") is not None:
        organization = who.organization(data["orgId"], in_body=True)
    job = services.job_submit(
        user=request.user,
        type=data["type"],
        input=data.get("input"),
        organization=organization,
        project=project,
        priority=data.get("priority"),
        run_at=data.get("runAt"),
        delay=data.get("delaySeconds"),
        dedup_key=data.get("dedupKey"),
    )
    deduplicated = bool(getattr(job, "deduplicated", False))
    body = {"id": str(job.pk), "jobId": str(job.pk), "status": job.status, "deduplicated": deduplicated}
    if deduplicated:
        return Response(body, status=status.HTTP_200_OK)
    return Response(body, status=status.HTTP_201_CREATED,
                    headers={"Location": reverse("api-job", kwargs={"id": str(job.pk)})})


def _cancelled(job: Job) -> Response:
    body = {
        "id": str(job.pk),
        "status": job.status,
        "cancelRequested": job.cancel_requested_at is not None,
        "completedAt": presenters.iso(job.completed_at),
    }
    # a running job was only asked to stop: it ends cancelled at its next progress report
    return Response(body, status=status.HTTP_202_ACCEPTED if job.status == JobStatus.RUNNING else status.HTTP_200_OK)


def _cancel(request: Request, job_id: str) -> Response:
    who = viewer(request)
    job = who.job(job_id)
    who.require_action(job, "cancel")
    return _cancelled(services.job_cancel(job_id=job.pk))


class ApiView(APIView):
    """The API's base view: a body declared over JOBS_API_MAX_BODY_BYTES is refused (413)
    before authentication, permissions or a byte of it is read."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        check_declared_length(request)
        super().initial(request, *args, **kwargs)


# --- /api/jobs -------------------------------------------------------------------------------

_TOTAL_NOTE = (
    " `pagination.total` is exact up to JOBS_API_EXACT_TOTAL_MAX matching jobs (10,000 by default); beyond, it is "
    "PostgreSQL's estimate and `pagination.totalIsExact` is false. `hasNext` is always exact."
)


class JobCollectionView(ApiView):
    """GET: jobs you may see, filtered and paginated; POST: create a job."""

    @extend_schema(
        operation_id="jobs_list",
        summary="List jobs",
        description="Staff see every job; anyone else the jobs they created and their organizations' jobs."
                    + _TOTAL_NOTE,
        parameters=[s.JobListQuerySerializer],
        responses={200: s.JobPageSerializer, **_errors(400)},
        tags=["jobs"],
    )
    def get(self, request: Request) -> Response:
        return _list(request, s.JobListQuerySerializer)

    @extend_schema(
        operation_id="jobs_create",
        summary="Create a job",
        description="Creates a job of a registered type, within your quotas (429 with Retry-After when one is "
                    "used up). With orgId or projectId, the job belongs to that organization: you must be a member.",
        request=s.JobCreateSerializer,
        responses={
            201: s.JobCreatedSerializer,
            200: OpenApiResponse(s.JobCreatedSerializer, description="Deduplicated: the queued job with that key."),
            **_errors(400, 403, 413, 429),
        },
        tags=["jobs"],
    )
    def post(self, request: Request) -> Response:
        return _create(request, s.JobCreateSerializer, organization=None)


class JobBulkCreateView(ApiView):
    """POST: many jobs of one type in one transaction, published in one batch."""

    @extend_schema(
        operation_id="jobs_create_bulk",
        summary="Create many jobs",
        description="All or nothing: an invalid input refuses the whole batch (400 naming its index), and "
                    "the quota must have room for every job (429 otherwise).",
        request=s.JobBulkCreateSerializer,
        responses={201: s.JobsCreatedSerializer, **_errors(400, 403, 413, 429)},
        tags=["jobs"],
    )
    def post(self, request: Request) -> Response:
        data = _valid(s.JobBulkCreateSerializer, request.data).validated_data
        who = viewer(request)
        project = who.project(data["projectId"], in_body=True) if data.get("projectId") is not None else None
        organization = who.organization(data["orgId"], in_body=True) if data.get("orgId") is not None else None
        jobs = services.jobs_submit_bulk(user=request.user, type=data["type"], inputs=data["inputs"],
                                         organization=organization, project=project, priority=data.get("priority"))
        return Response({"created": len(jobs), "ids": [str(job.pk) for job in jobs]}, status=status.HTTP_201_CREATED)


class JobDetailView(ApiView):
    """GET: one job with its attempts; DELETE: cancel it (seed 002)."""

    @extend_schema(operation_id="jobs_retrieve", summary="One job, with its attempts", parameters=[JOB_ID],
                   description="404 for a job that does not exist and for one you may not see alike.",
                   responses={200: s.JobDetailSerializer, **_errors(400, 404)}, tags=["jobs"])
    def get(self, request: Request, id: str) -> Response:
        job = viewer(request).job(id)
        data = presenters.job_to_dict(job)
        data["attemptHistory"] = [presenters.attempt_to_dict(attempt) for attempt in selectors.job_attempts(job=job)]
        return Response(data)

    @extend_schema(
        operation_id="jobs_delete",
        summary="Cancel a job (as POST .../cancel)",
        description="Seed 002's cancel: the job is cancelled (or asked to stop), not deleted.",
        parameters=[JOB_ID],
        responses={200: s.JobCancelledSerializer,
                   202: OpenApiResponse(s.JobCancelledSerializer, description="Running: asked to stop."),
                   **_errors(400, 403, 404, 409)},
        tags=["jobs"],
    )
    def delete(self, request: Request, id: str) -> Response:
        return _cancel(request, id)


class JobCancelView(ApiView):
    @extend_schema(
        operation_id="jobs_cancel",
        summary="Cancel a queued or running job",
        description="A queued job ends cancelled at once (200); a running one is asked to stop (202).",
        parameters=[JOB_ID],
        request=None,
        responses={200: s.JobCancelledSerializer,
                   202: OpenApiResponse(s.JobCancelledSerializer, description="Running: asked to stop."),
                   **_errors(400, 403, 404, 409)},
        tags=["jobs"],
    )
    def post(self, request: Request, id: str) -> Response:
        return _cancel(request, id)


class JobRetryView(ApiView):
    @extend_schema(
        operation_id="jobs_retry",
        summary="Queue a failed or cancelled job again",
        description="As new: progress 0, error and times cleared, a fresh budget of attempts.",
        parameters=[JOB_ID],
        request=None,
        responses={200: s.JobRetriedSerializer, **_errors(400, 403, 404, 409)},
        tags=["jobs"],
    )
    def post(self, request: Request, id: str) -> Response:
        who = viewer(request)
        job = who.job(id)
        who.require_action(job, "retry")
        job = services.job_retry(job_id=job.pk)
        return Response({
            "id": str(job.pk),
            "status": job.status,
            "progress": job.progress,
            "error": job.error or None,
            "startedAt": presenters.iso(job.started_at),
            "completedAt": presenters.iso(job.completed_at),
        })


class JobBulkView(ApiView):
    """POST: cancel or retry many jobs, by ids or by the list's filters."""

    action = "cancel"

    def post(self, request: Request) -> Response:
        body = _valid(s.BulkActionSerializer, request.data)
        who = viewer(request)
        errors: list[dict[str, Any]] = []
        ids = body.validated_data.get("ids")
        if ids is not None:
            visible = set(who.visible_jobs().filter(pk__in=ids).values_list("pk", flat=True))
            allowed = set(who.actionable_jobs().filter(pk__in=ids).values_list("pk", flat=True))
            for job_id in ids:
                if job_id not in visible:
                    errors.append(_bulk_error(job_id, *error_body(JobNotFound(job_id))))
                elif job_id not in allowed:
                    errors.append(_bulk_error(job_id, status.HTTP_403_FORBIDDEN, {
                        "code": "permission_denied",
                        "detail": f"you may not {self.action} job {job_id}: only its creator, an admin of its "
                                  "organization or staff may",
                    }))
            targets, has_more = [job_id for job_id in ids if job_id in allowed], False
        else:
            targets, has_more = selectors.job_ids_for_action(
                user=request.user, action=self.action, limit=settings.JOBS_API_BULK_MAX,
                memberships=who.memberships, **body.selector_filters(),
            )
        bulk = services.jobs_cancel_bulk if self.action == "cancel" else services.jobs_retry_bulk
        outcome = bulk(job_ids=targets)
        errors += [_bulk_error(job_id, *error_body(exc)) for job_id, exc in outcome.refused]
        return Response({
            "changed": len(outcome.changed),
            "ids": [str(job_id) for job_id in outcome.changed],
            "errors": errors,
            "hasMore": has_more,
        })


def _bulk_error(job_id: Any, http_status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(job_id), "status": http_status, "code": body["code"], "detail": body["detail"]}


_BULK_DESCRIPTION = (
    "By `ids`, or by the list's filters (at least one): with filters, the jobs you may act on that match, "
    "in a status the action starts from, oldest first, at most JOBS_API_BULK_MAX per request (`hasMore`)."
)


@extend_schema_view(post=extend_schema(
    operation_id="jobs_bulk_cancel", summary="Cancel many jobs", description=_BULK_DESCRIPTION,
    request=s.BulkActionSerializer, responses={200: s.BulkResultSerializer, **_errors(400, 413)}, tags=["jobs"],
))
class JobBulkCancelView(JobBulkView):
    action = "cancel"


@extend_schema_view(post=extend_schema(
    operation_id="jobs_bulk_retry", summary="Retry many jobs", description=_BULK_DESCRIPTION,
    request=s.BulkActionSerializer, responses={200: s.BulkResultSerializer, **_errors(400, 413)}, tags=["jobs"],
))
class JobBulkRetryView(JobBulkView):
    action = "retry"


# --- projects and organizations -----------------------------------------------------------------


class ProjectJobsView(ApiView):
    @extend_schema(
        operation_id="projects_jobs_list",
        summary="A project's jobs, newest first",
        description="The project's jobs that you may see; 403 for a project of an organization you are not in."
                    + _TOTAL_NOTE,
        parameters=[PROJECT_ID, s.ProjectJobListQuerySerializer],
        responses={200: s.JobPageSerializer, **_errors(400, 403, 404)},
        tags=["projects"],
    )
    def get(self, request: Request, projectId: str) -> Response:
        project = viewer(request).project(_path_id(projectId, "projectId"))
        return _list(request, s.ProjectJobListQuerySerializer, project=project)


class ProjectJobStatsView(ApiView):
    @extend_schema(operation_id="projects_jobs_stats", summary="How many of a project's jobs are in each status",
                   parameters=[PROJECT_ID], responses={200: s.JobStatsSerializer, **_errors(400, 403, 404)},
                   tags=["projects"])
    def get(self, request: Request, projectId: str) -> Response:
        project = viewer(request).project(_path_id(projectId, "projectId"))
        return Response(selectors.job_stats(project=project, visible_to=request.user,
                                             memberships=viewer(request).memberships))


class OrgJobsView(ApiView):
    @extend_schema(
        operation_id="orgs_jobs_list",
        summary="An organization's jobs",
        description="For its members (and staff); 403 for anyone else." + _TOTAL_NOTE,
        parameters=[ORG_ID, s.OrgJobListQuerySerializer],
        responses={200: s.JobPageSerializer, **_errors(400, 403, 404)},
        tags=["organizations"],
    )
    def get(self, request: Request, orgId: str) -> Response:
        org = viewer(request).organization(_path_id(orgId, "orgId"))
        return _list(request, s.OrgJobListQuerySerializer, organization=org)

    @extend_schema(
        operation_id="orgs_jobs_create",
        summary="Create a job in an organization",
        description="As POST /api/jobs, in this organization (seed 004); its quotas apply.",
        parameters=[ORG_ID],
        request=s.OrgJobCreateSerializer,
        responses={
            201: s.JobCreatedSerializer,
            200: OpenApiResponse(s.JobCreatedSerializer, description="Deduplicated: the queued job with that key."),
            **_errors(400, 403, 404, 413, 429),
        },
        tags=["organizations"],
    )
    def post(self, request: Request, orgId: str) -> Response:
        org = viewer(request).organization(_path_id(orgId, "orgId"))
        return _create(request, s.OrgJobCreateSerializer, organization=org)


class OrgJobStatsView(ApiView):
    @extend_schema(operation_id="orgs_jobs_stats", summary="How many of an organization's jobs are in each status",
                   parameters=[ORG_ID], responses={200: s.JobStatsSerializer, **_errors(400, 403, 404)},
                   tags=["organizations"])
    def get(self, request: Request, orgId: str) -> Response:
        org = viewer(request).organization(_path_id(orgId, "orgId"))
        return Response(selectors.job_stats(organization=org, visible_to=request.user,
                                             memberships=viewer(request).memberships))


# --- job types and quotas ----------------------------------------------------------------------


class JobTypesView(ApiView):
    @extend_schema(operation_id="job_types_list", summary="The job types you can create",
                   responses={200: s.JobTypeListSerializer, **_errors()}, tags=["job types"])
    def get(self, request: Request) -> Response:
        from handlers.registry import all_handlers

        types = [
            {
                "type": spec.type,
                "description": spec.description,
                "queue": spec.queue,
                "policy": spec.policy(),
                "inputSchema": spec.schema.model_json_schema() if spec.schema is not None else None,
            }
            for spec in all_handlers()
            if not spec.system
        ]
        return Response({"jobTypes": types})


class QuotaView(ApiView):
    @extend_schema(operation_id="quotas_me", summary="Your job quotas and how much of them is used",
                   responses={200: s.QuotaSerializer, **_errors()}, tags=["quotas"])
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
            "maxBodyBytes": settings.JOBS_API_MAX_BODY_BYTES,
            "scopes": scopes,
        })


def _figures(windows: dict[str, quotas.QuotaWindow], value: Any) -> dict[str, Any]:
    return {"perMinute": value(windows["minute"]), "perHour": value(windows["hour"]), "perDay": value(windows["day"])}


def _retry_after(quota: quotas.QuotaStatus) -> int | None:
    window = None if quota.exempt else quota.exceeded()
    if window is None or window.retry_after is None:
        return None
    return max(1, math.ceil(window.retry_after))
