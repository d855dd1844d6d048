"""What the jobs API's views share: their base class, the schema's error descriptions and
path parameters, and the steps that more than one view takes (list a page, create, cancel)."""
from __future__ import annotations

from typing import Any, ClassVar

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.schema import error_responses
from api.views import SERVICE_FIELD_NAMES, ApiView, valid
from jobs import presenters, selectors, services
from jobs.api import serializers as s
from jobs.api.permissions import viewer
from jobs.conf import conf
from jobs.models import Job, Organization, Project
from jobs.selectors import JobPage
from jobs.states import JobStatus


class JobsApiView(ApiView):
    # The base of the jobs API's views: errors name fields as the client typed them. No
    # docstring: the base's is the OpenAPI description of an operation that gives none.
    service_field_names: ClassVar[dict[str, str]] = SERVICE_FIELD_NAMES


# --- schema helpers --------------------------------------------------------------------------

_ERROR_TEXT = {
    400: "A parameter or field is invalid; `field` names it.",
    403: "Signed in, but not allowed (an organization you are not a member of; a job you may only see).",
    404: "No such job (or not one you may see), project or organization.",
    409: "The job's status does not allow this; `currentStatus` says what it is.",
    413: "The body or the job's input is over the size limit.",
    429: "A quota is used up: wait `Retry-After` seconds.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The schema's error answers of a jobs API operation: 401 (`api.schema`) and `codes`."""
    return error_responses(_ERROR_TEXT, *codes)


JOB_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job's id.")
PROJECT_ID = OpenApiParameter("projectId", OpenApiTypes.INT64, OpenApiParameter.PATH, description="A project id.")

TOTAL_NOTE = (
    " `pagination.total` is exact up to JOBS_API_EXACT_TOTAL_MAX matching jobs (10,000 by default); beyond, it is "
    "PostgreSQL's estimate and `pagination.totalIsExact` is false. `hasNext` is always exact."
)

# a running job was only asked to stop: it ends cancelled at its next progress report
CANCELLED_RESPONSES = {
    200: s.JobCancelledSerializer,
    202: OpenApiResponse(s.JobCancelledSerializer, description="Running: asked to stop."),
}
CREATED_RESPONSES = {
    201: s.JobCreatedSerializer,
    200: OpenApiResponse(s.JobCreatedSerializer, description="Deduplicated: the queued job with that key."),
}


# --- steps of more than one view ---------------------------------------------------------------


def page_body(page: JobPage, *, user: Any = None, memberships: dict[int, str] | None = None) -> dict[str, Any]:
    """A page of jobs as the API answers it; inputs and results as `user` may see them."""
    return {
        "jobs": [presenters.job_to_dict(job, viewer=user, memberships=memberships) for job in page.items],
        "pagination": {
            "total": page.total,
            "totalIsExact": page.total_is_exact,
            "offset": page.offset,
            "limit": page.limit,
            "hasNext": page.has_next,
        },
    }


def list_jobs(request: Request, query_class: type[s.JobListQuerySerializer], **scope: Any) -> Response:
    """A page of the jobs the user may see, filtered by the query string and by `scope` (a
    project or an organization from the path)."""
    query = valid(query_class, request.query_params)
    arguments = {**query.selector_arguments(), **scope}
    who = viewer(request)
    page = selectors.job_list(visible_to=request.user, memberships=who.memberships,
                              exact_total_max=conf.api_exact_total_max, **arguments)
    return Response(page_body(page, user=request.user, memberships=who.memberships))


def create_job(
    request: Request, body_class: type[s.JobCreateSerializer], organization: Organization | None
) -> Response:
    """Create the job the body describes (in `organization` when the path names one): 201 with
    its Location, or 200 with the queued job that holds the same dedup key."""
    data = valid(body_class, request.data).validated_data
    who = viewer(request)
    project: Project | None = None
    if data.get("projectId") is not None:
        project = who.project(data["projectId"], in_body=True)
    if organization is None and data.get("orgId") is not None:
        organization = who.organization(data["orgId"], in_body=True)
    created = services.job_submit(
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
    job, deduplicated = created.job, created.deduplicated
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
    return Response(body, status=status.HTTP_202_ACCEPTED if job.status == JobStatus.RUNNING else status.HTTP_200_OK)


def cancel_job(request: Request, job_id: str) -> Response:
    """Cancel a job the user may act on: 200 when it ended cancelled, 202 when running (asked
    to stop)."""
    who = viewer(request)
    job = who.job(job_id)
    who.require_action(job, "cancel")
    return _cancelled(services.job_cancel(job_id=job.pk, by=who.actor(request)))
