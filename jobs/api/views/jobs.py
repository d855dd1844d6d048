"""/api/jobs and /api/jobs/<id>: list, create, read, cancel and retry one job."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from jobs import presenters, selectors, services
from jobs.api import serializers as s
from jobs.api.permissions import viewer
from jobs.api.views.common import (
    CANCELLED_RESPONSES,
    CREATED_RESPONSES,
    JOB_ID,
    TOTAL_NOTE,
    JobsApiView,
    cancel_job,
    create_job,
    errors,
    list_jobs,
)


class JobCollectionView(JobsApiView):
    """GET: jobs you may see, filtered and paginated; POST: create a job."""

    @extend_schema(
        operation_id="jobs_list",
        summary="List jobs",
        description="Staff see every job; anyone else the jobs they created and their organizations' jobs."
                    + TOTAL_NOTE,
        parameters=[s.JobListQuerySerializer],
        responses={200: s.JobPageSerializer, **errors(400)},
        tags=["jobs"],
    )
    def get(self, request: Request) -> Response:
        return list_jobs(request, s.JobListQuerySerializer)

    @extend_schema(
        operation_id="jobs_create",
        summary="Create a job",
        description="Creates a job of a registered type, within your quotas (429 with Retry-After when one is "
                    "used up). With orgId or projectId, the job belongs to that organization: you must be a member.",
        request=s.JobCreateSerializer,
        responses={**CREATED_RESPONSES, **errors(400, 403, 413, 429)},
        tags=["jobs"],
    )
    def post(self, request: Request) -> Response:
        return create_job(request, s.JobCreateSerializer, organization=None)


class JobDetailView(JobsApiView):
    """GET: one job with its attempts; DELETE: cancel it (as POST .../cancel)."""

    @extend_schema(operation_id="jobs_retrieve", summary="One job, with its attempts", parameters=[JOB_ID],
                   description="404 for a job that does not exist and for one you may not see alike.",
                   responses={200: s.JobDetailSerializer, **errors(400, 404)}, tags=["jobs"])
    def get(self, request: Request, id: str) -> Response:
        who = viewer(request)
        job = who.job(id)
        data = presenters.job_to_dict(job, viewer=request.user, memberships=who.memberships)
        data["attemptHistory"] = [presenters.attempt_to_dict(attempt) for attempt in selectors.job_attempts(job=job)]
        return Response(data)

    @extend_schema(
        operation_id="jobs_delete",
        summary="Cancel a job (as POST .../cancel)",
        description="The job is cancelled (or asked to stop), not deleted: DELETE is another spelling of cancel.",
        parameters=[JOB_ID],
        responses={**CANCELLED_RESPONSES, **errors(400, 403, 404, 409)},
        tags=["jobs"],
    )
    def delete(self, request: Request, id: str) -> Response:
        return cancel_job(request, id)


class JobCancelView(JobsApiView):
    @extend_schema(
        operation_id="jobs_cancel",
        summary="Cancel a queued or running job",
        description="A queued job ends cancelled at once (200); a running one is asked to stop (202).",
        parameters=[JOB_ID],
        request=None,
        responses={**CANCELLED_RESPONSES, **errors(400, 403, 404, 409)},
        tags=["jobs"],
    )
    def post(self, request: Request, id: str) -> Response:
        return cancel_job(request, id)


class JobRetryView(JobsApiView):
    @extend_schema(
        operation_id="jobs_retry",
        summary="Queue a failed or cancelled job again",
        description="As new: progress 0, error and times cleared, a fresh budget of attempts.",
        parameters=[JOB_ID],
        request=None,
        responses={200: s.JobRetriedSerializer, **errors(400, 403, 404, 409)},
        tags=["jobs"],
    )
    def post(self, request: Request, id: str) -> Response:
        who = viewer(request)
        job = who.job(id)
        who.require_action(job, "retry")
        job = services.job_retry(job_id=job.pk, by=who.actor(request))
        return Response({
            "id": str(job.pk),
            "status": job.status,
            "progress": job.progress,
            "error": job.error or None,
            "startedAt": presenters.iso(job.started_at),
            "completedAt": presenters.iso(job.completed_at),
        })
