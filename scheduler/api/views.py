"""The schedules API's views: check the request, ask `scheduler.selectors` what the user may
see, write through `scheduler.services`, answer with `scheduler.presenters.schedule_to_dict`.
No business logic here; every platform error is answered by `api.errors`.

The rules are the jobs API's (`jobs.selectors.access`), answered in its words (`api.permissions`):
  * a user sees their own schedules and their organizations' ones, staff every schedule
    (system schedules to staff only); any other schedule answers 404, as if it did not exist,
    and is absent from every list;
  * change, delete and run now: the owner, an admin of its organization, staff; anyone else
    who can see it gets 403. A system schedule is edited in code only: PATCH and DELETE
    answer 409 (staff may still run it now);
  * creating in an organization one is not a member of answers 403 (staff may use any).
"""
from __future__ import annotations

from typing import Any, ClassVar

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework import serializers as drf_serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.permissions import no_such_organization, not_a_member
from api.schema import ORG_ID, error_responses
from api.views import SERVICE_FIELD_NAMES, ApiView, path_id, valid
from audit.actors import Actor, Source
from jobs import selectors as job_selectors
from jobs.models import Organization
from scheduler import presenters, selectors, services
from scheduler.api import serializers as s
from scheduler.models import ScheduledJob

# --- schema helpers -----------------------------------------------------------------------------

_ERROR_TEXT = {
    400: "A parameter or field is invalid (a cron expression, a frequency and its fields...); `field` names it.",
    403: "Signed in, but not allowed (an organization you are not a member of; a schedule you may only see).",
    404: "No such schedule (or not one you may see), or no such organization.",
    409: "A system schedule (edited in code only), or a run-now while the previous run is still going.",
    413: "The body or the schedule's input is over the size limit.",
    429: "Run now: a quota of the schedule's owner is used up; wait `Retry-After` seconds.",
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return error_responses(_ERROR_TEXT, *codes)


SCHEDULE_ID = OpenApiParameter("id", OpenApiTypes.INT64, OpenApiParameter.PATH, description="The schedule's id.")

# The body's names -> the keywords of `schedule_create` / `schedule_update`.
_SERVICE_NAMES: dict[str, str] = {**presenters.WRITABLE_FIELDS, "type": "job_type"}
_SERVICE_NAMES.pop("jobType")


class SchedulesApiView(ApiView):
    # The base of the schedules API's views: errors name fields as the client typed them (the
    # body's `type` is the services' `jobType`; a run's job errors as in the jobs API). No
    # docstring: the base's is the OpenAPI description of an operation that gives none.
    service_field_names: ClassVar[dict[str, str]] = {**SERVICE_FIELD_NAMES, "jobType": "type"}


# --- helpers ------------------------------------------------------------------------------------


def _valid(serializer_class: type[drf_serializers.Serializer], data: Any, *, partial: bool = False) -> Any:
    return valid(serializer_class, data, partial=partial).validated_data


def _present(schedule: ScheduledJob) -> dict[str, Any]:
    data = presenters.schedule_to_dict(schedule, upcoming=selectors.schedule_upcoming(schedule=schedule))
    data["type"] = data["jobType"]
    return data


def _visible(request: Request, schedule_id: str) -> ScheduledJob:
    """The schedule if this user may see it; ScheduleNotFound (404) otherwise."""
    return selectors.schedule_get(schedule_id=path_id(schedule_id, "id"), user=request.user)


def _manageable(request: Request, schedule_id: str, verb: str) -> ScheduledJob:
    """A visible schedule the user may change (403 if they may only see it)."""
    schedule = _visible(request, schedule_id)
    if not selectors.schedule_can_manage(user=request.user, schedule=schedule):
        raise exceptions.PermissionDenied(
            f"you may not {verb} schedule {schedule.pk}: only its owner, an admin of its organization or staff may"
        )
    return schedule


def _organization(request: Request, org_id: int, *, body_field: str | None = None) -> Organization:
    """An organization the requester may create schedules in: 404 for none (400 naming
    `body_field` when the body named it), 403 for one they are not a member of."""
    org = job_selectors.organization_get(organization_id=org_id)
    if org is None:
        raise no_such_organization(org_id, body_field=body_field)
    if not job_selectors.may_use_organization(user=request.user, organization_id=org.pk):
        raise not_a_member(org.pk)
    return org


def _service_arguments(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    """The validated body as service keywords; an organization named in it is resolved and the
    requester's membership checked (400 for none, 403 for one they are not in)."""
    arguments = {_SERVICE_NAMES[key]: value for key, value in data.items()}
    org_id = arguments.get("organization")
    if org_id is not None:
        arguments["organization"] = _organization(request, org_id, body_field="organizationId")
    return arguments


def _list(request: Request, organization: Organization | None) -> Response:
    query = _valid(s.ScheduleListQuerySerializer, request.query_params)
    scope = selectors.schedule_queryset(organization=organization)
    visible = selectors.schedules_visible_to(user=request.user, queryset=scope)
    total = visible.count()
    offset, limit = query["offset"], query["limit"]
    schedules = list(visible[offset:offset + limit])
    return Response({
        "schedules": [_present(schedule) for schedule in schedules],
        "pagination": {"total": total, "offset": offset, "limit": limit, "hasNext": offset + len(schedules) < total},
    })


def _create(request: Request, body_class: type[s.ScheduleWriteSerializer], organization: Organization | None
            ) -> Response:
    arguments = _service_arguments(request, _valid(body_class, request.data))
    if organization is not None:
        arguments["organization"] = organization
    schedule = services.schedule_create(owner=request.user, by=_by(request), **arguments)
    return Response(_present(schedule), status=status.HTTP_201_CREATED,
                    headers={"Location": reverse("api-schedule", kwargs={"id": str(schedule.pk)})})


# --- /api/schedules -----------------------------------------------------------------------------


class ScheduleCollectionView(SchedulesApiView):
    """GET: the schedules you may see; POST: create one of yours."""

    @extend_schema(
        operation_id="schedules_list",
        summary="List schedules",
        description="Your schedules and your organizations' ones, by name; staff see every schedule, the system "
                    "schedules included. Each with its next five run times.",
        parameters=[s.ScheduleListQuerySerializer],
        responses={200: s.SchedulePageSerializer, **_errors(400)},
        tags=["schedules"],
    )
    def get(self, request: Request) -> Response:
        return _list(request, organization=None)

    @extend_schema(
        operation_id="schedules_create",
        summary="Create a schedule",
        description="A schedule that creates a job of `type` (owned by you, within your quotas) at each tick. "
                    "With organizationId it belongs to that organization: you must be a member.",
        request=s.ScheduleWriteSerializer,
        responses={201: s.ScheduleSerializer, **_errors(400, 403, 413)},
        tags=["schedules"],
    )
    def post(self, request: Request) -> Response:
        return _create(request, s.ScheduleWriteSerializer, organization=None)


class ScheduleDetailView(SchedulesApiView):
    """GET, PATCH, DELETE one schedule."""

    @extend_schema(operation_id="schedules_retrieve", summary="One schedule, with its next five run times",
                   description="404 for a schedule that does not exist and for one you may not see alike.",
                   parameters=[SCHEDULE_ID], responses={200: s.ScheduleSerializer, **_errors(400, 404)},
                   tags=["schedules"])
    def get(self, request: Request, id: str) -> Response:
        return Response(_present(_visible(request, id)))

    @extend_schema(
        operation_id="schedules_update",
        summary="Change a schedule",
        description="Any of the fields of POST. A new timetable takes effect from its next tick. Its owner, an "
                    "admin of its organization or staff only (403); a system schedule answers 409.",
        parameters=[SCHEDULE_ID],
        request=s.ScheduleWriteSerializer(partial=True),
        responses={200: s.ScheduleSerializer, **_errors(400, 403, 404, 409, 413)},
        tags=["schedules"],
    )
    def patch(self, request: Request, id: str) -> Response:
        schedule = _manageable(request, id, "change")
        changes = _service_arguments(request, _valid(s.ScheduleWriteSerializer, request.data, partial=True))
        return Response(_present(services.schedule_update(schedule=schedule, by=_by(request), **changes)))

    @extend_schema(
        operation_id="schedules_delete",
        summary="Delete a schedule",
        description="It stops firing at once; the jobs it created stay. A system schedule answers 409.",
        parameters=[SCHEDULE_ID],
        responses={204: None, **_errors(400, 403, 404, 409)},
        tags=["schedules"],
    )
    def delete(self, request: Request, id: str) -> Response:
        services.schedule_delete(schedule=_manageable(request, id, "delete"), by=_by(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ScheduleRunView(SchedulesApiView):
    @extend_schema(
        operation_id="schedules_run",
        summary="Run a schedule now",
        description="One run outside the timetable (the next tick is unchanged): a job owned by the schedule's "
                    "owner, within their quotas (429). Overlap policy 'skip': 409 while the previous run is "
                    "queued or running.",
        parameters=[SCHEDULE_ID],
        request=None,
        responses={
            201: s.ScheduleRunSerializer,
            202: OpenApiResponse(s.ScheduleRunSerializer, description="System schedules: the job or task was "
                                                                      "sent (or `outcome` failed)."),
            **_errors(400, 403, 404, 409, 429),
        },
        tags=["schedules"],
    )
    def post(self, request: Request, id: str) -> Response:
        result = services.schedule_run_now(schedule=_manageable(request, id, "run"), by=_by(request))
        job = result.job
        body = {
            "scheduleId": result.schedule_id,
            "outcome": result.outcome,
            "jobId": str(job.pk) if job is not None else None,
            "status": job.status if job is not None else None,
            "taskId": result.task_id,
        }
        if job is None:
            return Response(body, status=status.HTTP_202_ACCEPTED)
        return Response(body, status=status.HTTP_201_CREATED,
                        headers={"Location": reverse("api-job", kwargs={"id": str(job.pk)})})


# --- /api/v1/orgs/{orgId}/schedules -------------------------------------------------------------


class OrgSchedulesView(SchedulesApiView):
    @extend_schema(
        operation_id="orgs_schedules_list",
        summary="An organization's schedules",
        description="For its members (and staff); 403 for anyone else.",
        parameters=[ORG_ID, s.ScheduleListQuerySerializer],
        responses={200: s.SchedulePageSerializer, **_errors(400, 403, 404)},
        tags=["organizations"],
    )
    def get(self, request: Request, orgId: str) -> Response:
        return _list(request, organization=_organization(request, path_id(orgId, "orgId")))

    @extend_schema(
        operation_id="orgs_schedules_create",
        summary="Create a schedule in an organization",
        description="As POST /api/schedules, in this organization; you must be a member (403).",
        parameters=[ORG_ID],
        request=s.OrgScheduleWriteSerializer,
        responses={201: s.ScheduleSerializer, **_errors(400, 403, 404, 413)},
        tags=["organizations"],
    )
    def post(self, request: Request, orgId: str) -> Response:
        org = _organization(request, path_id(orgId, "orgId"))
        return _create(request, s.OrgScheduleWriteSerializer, organization=org)


def _by(request: Request) -> Actor:
    return Actor.from_request(request, Source.API)
