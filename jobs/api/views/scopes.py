"""A project's and an organization's jobs: list, create in, and count per status."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.schema import ORG_ID
from api.views import path_id
from jobs import selectors
from jobs.api import serializers as s
from jobs.api.permissions import viewer
from jobs.api.views.common import (
    CREATED_RESPONSES,
    PROJECT_ID,
    TOTAL_NOTE,
    JobsApiView,
    create_job,
    errors,
    list_jobs,
)


class ProjectJobsView(JobsApiView):
    @extend_schema(
        operation_id="projects_jobs_list",
        summary="A project's jobs, newest first",
        description="The project's jobs that you may see; 403 for a project of an organization you are not in."
                    + TOTAL_NOTE,
        parameters=[PROJECT_ID, s.ProjectJobListQuerySerializer],
        responses={200: s.JobPageSerializer, **errors(400, 403, 404)},
        tags=["projects"],
    )
    def get(self, request: Request, projectId: str) -> Response:
        project = viewer(request).project(path_id(projectId, "projectId"))
        return list_jobs(request, s.ProjectJobListQuerySerializer, project=project)


class ProjectJobStatsView(JobsApiView):
    @extend_schema(operation_id="projects_jobs_stats", summary="How many of a project's jobs are in each status",
                   parameters=[PROJECT_ID], responses={200: s.JobStatsSerializer, **errors(400, 403, 404)},
                   tags=["projects"])
    def get(self, request: Request, projectId: str) -> Response:
        project = viewer(request).project(path_id(projectId, "projectId"))
        return Response(selectors.job_stats(project=project, visible_to=request.user,
                                             memberships=viewer(request).memberships))


class OrgJobsView(JobsApiView):
    @extend_schema(
        operation_id="orgs_jobs_list",
        summary="An organization's jobs",
        description="For its members (and staff); 403 for anyone else." + TOTAL_NOTE,
        parameters=[ORG_ID, s.OrgJobListQuerySerializer],
        responses={200: s.JobPageSerializer, **errors(400, 403, 404)},
        tags=["organizations"],
    )
    def get(self, request: Request, orgId: str) -> Response:
        org = viewer(request).organization(path_id(orgId, "orgId"))
        return list_jobs(request, s.OrgJobListQuerySerializer, organization=org)

    @extend_schema(
        operation_id="orgs_jobs_create",
        summary="Create a job in an organization",
        description="As POST /api/jobs, in this organization; its quotas apply.",
        parameters=[ORG_ID],
        request=s.OrgJobCreateSerializer,
        responses={**CREATED_RESPONSES, **errors(400, 403, 404, 413, 429)},
        tags=["organizations"],
    )
    def post(self, request: Request, orgId: str) -> Response:
        org = viewer(request).organization(path_id(orgId, "orgId"))
        return create_job(request, s.OrgJobCreateSerializer, organization=org)


class OrgJobStatsView(JobsApiView):
    @extend_schema(operation_id="orgs_jobs_stats", summary="How many of an organization's jobs are in each status",
                   parameters=[ORG_ID], responses={200: s.JobStatsSerializer, **errors(400, 403, 404)},
                   tags=["organizations"])
    def get(self, request: Request, orgId: str) -> Response:
        org = viewer(request).organization(path_id(orgId, "orgId"))
        return Response(selectors.job_stats(organization=org, visible_to=request.user,
                                             memberships=viewer(request).memberships))
