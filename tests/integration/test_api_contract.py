"""The REST API's contracts (the shapes its clients rely on): every endpoint's answer, its defaults, every
filter, ordering both ways, pagination edges, and a 400 naming the parameter for bad values."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs import presenters
from jobs.api.serializers import JobSerializer
from jobs.models import Job
from tests.api_support import Cast, cast, client_for, relaxed_quotas  # noqa: F401
from tests.api_support import make_person as make_user
from tests.factories import job_in_status, make_job, make_membership, make_org, make_project

pytestmark = pytest.mark.usefixtures("relaxed_quotas")

JOB_KEYS = {
    "id", "type", "status", "progress", "progressMessage", "input", "result", "error", "priority", "attempts",
    "maxAttempts", "projectId", "projectName", "orgId", "createdBy", "createdByName", "createdAt", "updatedAt",
    "queuedAt", "startedAt", "completedAt", "runAt", "estimatedDuration", "actualDuration",
}


def ids(response: Any) -> list[str]:
    return [job["id"] for job in response.json()["jobs"]]


def assert_bad(response: Any, field: str, *words: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == field, body
    assert body["detail"].startswith(f"{field}: "), body
    for word in words:
        assert word in body["detail"], body


@pytest.fixture
def catalogue(db: None) -> dict[str, Any]:
    """Eight jobs of known types, statuses, creators, projects and creation times (an hour apart,
    newest last), seen by a staff client."""
    staff = make_user("root", is_staff=True)
    alice, bob = make_user("ann"), make_user("ben")
    org, other = make_org("North"), make_org("South")
    project = make_project(org, name="Pipeline")
    base = timezone.now() - timedelta(days=1)
    rows = [
        # type, status, creator, org, project
        ("build_tiles", "queued", alice, org, project),
        ("build_tiles", "running", alice, org, project),
        ("syncGeometriesToAirtable", "completed", bob, org, None),
        ("syncGeometriesToAirtable", "failed", bob, other, None),
        ("pro_eligibility_tests", "cancelled", alice, None, None),
        ("build_tiles", "completed", bob, None, None),
        ("pro_eligibility_tests", "queued", bob, other, None),
        ("syncMetadataFromAirtable", "failed", alice, None, None),
    ]
    jobs = []
    for n, (job_type, status, user, organization, proj) in enumerate(rows):
        created = base + timedelta(hours=n)
        jobs.append(make_job(status, type=job_type, created_by=user, organization=organization, project=proj,
                             created_at=created, updated_at=created + timedelta(minutes=(7 * n) % 5)))
    return {"client": client_for(staff), "jobs": jobs, "alice": alice, "bob": bob, "org": org, "other": other,
            "project": project, "base": base}


def expected(catalogue: dict[str, Any], predicate: Any) -> list[str]:
    """Ids of the matching catalogue jobs, newest first (the default order)."""
    return [str(job.pk) for job in reversed(catalogue["jobs"]) if predicate(job)]


# --- GET /api/jobs ------------------------------------------------------------------------------


def test_list_shape_and_defaults(catalogue: dict[str, Any]) -> None:
    response = catalogue["client"].get("/api/jobs")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"jobs", "pagination"}
    assert body["pagination"] == {"total": 8, "totalIsExact": True, "offset": 0, "limit": 50,
                                  "hasNext": False}
    assert ids(response) == expected(catalogue, lambda job: True)  # newest first
    first = body["jobs"][0]
    assert set(first) >= JOB_KEYS
    newest = catalogue["jobs"][-1]
    assert first["type"] == "syncMetadataFromAirtable" and first["status"] == "failed"
    assert first["createdBy"] == catalogue["alice"].pk and first["createdByName"] == "ann"
    assert first["createdAt"] == presenters.iso(newest.created_at) and first["createdAt"].endswith("Z")
    with_project = next(job for job in body["jobs"] if job["projectId"] is not None)
    assert with_project["projectName"] == "Pipeline" and with_project["orgId"] == catalogue["org"].pk


def test_job_resource_matches_the_documented_schema(catalogue: dict[str, Any]) -> None:
    """The OpenAPI description of a job (JobSerializer) and what the presenter renders have the
    same keys: a field added to one and not the other fails here."""
    job = Job.objects.select_related("created_by", "project", "organization").first()
    assert job is not None
    assert set(presenters.job_to_dict(job)) == set(JobSerializer().fields)
    assert set(JobSerializer().fields) >= JOB_KEYS


@pytest.mark.parametrize(
    "query, predicate",
    [
        ("types=build_tiles", lambda j: j.type == "build_tiles"),
        ("types=build_tiles&types=pro_eligibility_tests", lambda j: j.type in ("build_tiles", "pro_eligibility_tests")),
        ("types=build_tiles,pro_eligibility_tests", lambda j: j.type in ("build_tiles", "pro_eligibility_tests")),
        ("statuses=pending&statuses=processing", lambda j: j.status in ("queued", "running")),
        ("statuses=pending,processing", lambda j: j.status in ("queued", "running")),
        ("statuses=finished", lambda j: j.status == "completed"),
        ("statuses=error", lambda j: j.status == "failed"),
        ("statuses=Queued,Running", lambda j: j.status in ("queued", "running")),
        ("statuses=CANCELLED", lambda j: j.status == "cancelled"),
        ("status=Running", lambda j: j.status == "running"),
        ("status=error", lambda j: j.status == "failed"),
        ("types=build_tiles&statuses=completed", lambda j: j.type == "build_tiles" and j.status == "completed"),
    ],
)
def test_list_filters_by_type_and_status(catalogue: dict[str, Any], query: str, predicate: Any) -> None:
    response = catalogue["client"].get(f"/api/jobs?{query}")
    assert response.status_code == 200, response.content
    assert ids(response) == expected(catalogue, predicate)
    assert response.json()["pagination"]["total"] == len(expected(catalogue, predicate))


def test_list_filters_by_user_project_org_and_time(catalogue: dict[str, Any]) -> None:
    client, alice, org, project = catalogue["client"], catalogue["alice"], catalogue["org"], catalogue["project"]
    assert ids(client.get(f"/api/jobs?userId={alice.pk}")) == expected(catalogue, lambda j: j.created_by_id == alice.pk)
    by_project = client.get(f"/api/jobs?projectId={project.pk}")
    assert ids(by_project) == expected(catalogue, lambda j: j.project_id == project.pk)
    assert ids(client.get(f"/api/jobs?orgId={org.pk}")) == expected(catalogue, lambda j: j.organization_id == org.pk)
    after = catalogue["jobs"][5].created_at
    before = catalogue["jobs"][2].created_at
    response = client.get("/api/jobs", {"createdAfter": after.isoformat()})
    assert ids(response) == expected(catalogue, lambda j: j.created_at >= after)  # inclusive
    response = client.get("/api/jobs", {"createdBefore": before.isoformat()})
    assert ids(response) == expected(catalogue, lambda j: j.created_at < before)  # exclusive
    response = client.get("/api/jobs", {"createdAfter": before.isoformat(), "createdBefore": after.isoformat(),
                                        "userId": alice.pk})
    assert ids(response) == expected(
        catalogue, lambda j: before <= j.created_at < after and j.created_by_id == alice.pk)
    assert client.get(f"/api/jobs?userId={alice.pk + 1000}").json()["jobs"] == []


def test_time_filters_forgive_a_bare_date_and_an_unencoded_plus(catalogue: dict[str, Any]) -> None:
    client, cut = catalogue["client"], catalogue["jobs"][4].created_at
    text = cut.isoformat()  # ...+00:00, sent as typed: the "+" arrives as a space
    assert "+" in text
    assert ids(client.get(f"/api/jobs?createdAfter={text}")) == expected(catalogue, lambda j: j.created_at >= cut)
    day = (catalogue["base"] + timedelta(days=1)).date()
    midnight = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    assert ids(client.get(f"/api/jobs?createdBefore={day.isoformat()}")) == expected(
        catalogue, lambda j: j.created_at < midnight)


@pytest.mark.parametrize("order_by, attribute", [
    ("created_at", "created_at"), ("createdAt", "created_at"), ("updated_at", "updated_at"),
    ("updatedAt", "updated_at"), ("type", "type"), ("status", "status"),
])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_list_ordering_both_ways(catalogue: dict[str, Any], order_by: str, attribute: str, direction: str) -> None:
    response = catalogue["client"].get("/api/jobs", {"orderBy": order_by, "orderDirection": direction})
    assert response.status_code == 200, response.content
    by_id = {str(job.pk): job for job in catalogue["jobs"]}
    got = [(getattr(by_id[job_id], attribute), by_id[job_id].pk) for job_id in ids(response)]
    # ties are broken by id in the same direction, so that pages never overlap
    assert got == sorted(got, reverse=direction == "desc")
    assert len(got) == 8


def test_pagination_edges(catalogue: dict[str, Any]) -> None:
    client = catalogue["client"]
    everything = expected(catalogue, lambda j: True)
    first = client.get("/api/jobs?limit=3").json()
    assert [j["id"] for j in first["jobs"]] == everything[:3]
    assert first["pagination"] == {"total": 8, "totalIsExact": True, "offset": 0, "limit": 3, "hasNext": True}
    middle = client.get("/api/jobs?limit=3&offset=3").json()
    assert [j["id"] for j in middle["jobs"]] == everything[3:6]
    assert middle["pagination"]["hasNext"] is True
    last = client.get("/api/jobs?limit=3&offset=6").json()
    assert [j["id"] for j in last["jobs"]] == everything[6:]
    assert last["pagination"] == {"total": 8, "totalIsExact": True, "offset": 6, "limit": 3, "hasNext": False}
    exact = client.get("/api/jobs?limit=4&offset=4").json()  # the last page is exactly full
    assert len(exact["jobs"]) == 4 and exact["pagination"]["hasNext"] is False
    past = client.get("/api/jobs?limit=3&offset=50").json()
    assert past == {"jobs": [], "pagination": {"total": 8, "totalIsExact": True, "offset": 50, "limit": 3,
                                                "hasNext": False}}
    assert client.get("/api/jobs?limit=100").json()["pagination"]["limit"] == 100


@pytest.mark.parametrize("query, field, words", [
    ("limit=0", "limit", ["greater than or equal to 1"]),
    ("limit=101", "limit", ["less than or equal to 100"]),
    ("limit=many", "limit", ["integer"]),
    ("offset=-1", "offset", ["greater than or equal to 0"]),
    ("orderBy=priority", "orderBy", ["priority"]),
    ("orderBy=created_at;drop", "orderBy", []),
    ("orderDirection=sideways", "orderDirection", ["sideways"]),
    ("statuses=pending,exploded", "statuses", ["'exploded'", "accepted"]),
    ("status=nope", "status", ["'nope'"]),
    ("userId=abc", "userId", ["integer"]),
    ("userId=0", "userId", []),
    ("projectId=99999999999999999999999", "projectId", []),
    ("orgId=-3", "orgId", []),
    ("createdAfter=yesterday", "createdAfter", ["format"]),
    ("createdBefore=2024-13-45", "createdBefore", []),
])
def test_list_bad_values_answer_400_naming_the_parameter(catalogue: dict[str, Any], query: str, field: str,
                                                         words: list[str]) -> None:
    assert_bad(catalogue["client"].get(f"/api/jobs?{query}"), field, *words)


# --- one job --------------------------------------------------------------------------------------


def test_job_detail_with_attempts(db: None) -> None:
    user = make_user()
    job = job_in_status("failed", created_by=user)
    response = client_for(user).get(f"/api/jobs/{job.pk}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= JOB_KEYS
    assert body["status"] == "failed" and body["error"] == "boom: the disk is full" and body["attempts"] == 1
    assert body["attemptHistory"] == [{
        "number": 1, "worker": "celery@test-host", "outcome": "failed_final", "startedAt": body["startedAt"],
        "finishedAt": body["attemptHistory"][0]["finishedAt"], "duration": body["attemptHistory"][0]["duration"],
        "error": "boom: the disk is full",
    }]


def test_job_detail_bad_and_unknown_ids(db: None) -> None:
    client = client_for(make_user(is_staff=True))
    assert_bad(client.get("/api/jobs/not-a-uuid"), "id", "not a valid job id")
    missing = uuid.uuid4()
    response = client.get(f"/api/jobs/{missing}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"job {missing} does not exist", "code": "not_found"}


# --- POST /api/jobs -------------------------------------------------------------------------------


def test_create_answers_201_with_id_jobid_and_status(db: None) -> None:
    user = make_user()
    org = make_org()
    make_membership(user, org)
    project = make_project(org)
    client = client_for(user)
    response = client.post("/api/jobs", {"type": "demo.sleep", "input": {"seconds": 1}, "priority": 2,
                                         "projectId": project.pk, "delaySeconds": 30}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {"id": body["id"], "jobId": body["id"], "status": "queued", "deduplicated": False}
    assert response["Location"] == f"/api/jobs/{body['id']}"
    job = Job.objects.get(pk=body["id"])
    assert (job.type, job.input, job.priority, job.created_by, job.project, job.organization) == (
        "demo.sleep", {"seconds": 1}, 2, user, project, org)
    assert job.run_at is not None
    assert timedelta(seconds=25) < job.run_at - job.created_at <= timedelta(seconds=31)
    shown = client.get(f"/api/jobs/{body['id']}").json()
    assert shown["runAt"] == presenters.iso(job.run_at) and shown["projectName"] == project.name


def test_create_defaults_and_run_at(db: None) -> None:
    client = client_for(make_user())
    run_at = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    response = client.post("/api/jobs", {"type": "demo.sleep", "runAt": run_at.isoformat()}, format="json")
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.input == {} and job.priority == 5 and job.run_at == run_at and job.organization is None


def test_create_with_a_dedup_key_answers_200_with_the_existing_job(db: None) -> None:
    client = client_for(make_user())
    first = client.post("/api/jobs", {"type": "demo.sleep", "dedupKey": "attachment-42"}, format="json")
    second = client.post("/api/jobs", {"type": "demo.sleep", "dedupKey": "attachment-42"}, format="json")
    assert first.status_code == 201 and second.status_code == 200
    assert second.json() == {**first.json(), "deduplicated": True}
    assert Job.objects.count() == 1


def test_dedup_keys_of_different_users_do_not_meet(db: None) -> None:
    """A key is the user's own: B's request is not absorbed by A's queued job (nor told its id)."""
    first = client_for(make_user()).post("/api/jobs", {"type": "demo.sleep", "dedupKey": "k"}, format="json")
    second = client_for(make_user()).post("/api/jobs", {"type": "demo.sleep", "dedupKey": "k"}, format="json")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


@pytest.mark.parametrize("body, field, words", [
    ({"input": {}}, "type", ["required"]),
    ({"type": "no.such.type"}, "type", ["unknown job type 'no.such.type'", "demo.sleep"]),
    ({"type": "test.system"}, "type", ["untracked job"]),
    ({"type": "demo.sleep", "input": [1, 2]}, "input", ["JSON object"]),
    ({"type": "demo.sleep", "priority": 11}, "priority", ["10"]),
    ({"type": "demo.sleep", "priority": "urgent"}, "priority", ["integer"]),
    ({"type": "demo.sleep", "delaySeconds": -1}, "delaySeconds", []),
    ({"type": "demo.sleep", "delaySeconds": 1e12}, "delaySeconds", []),
    ({"type": "demo.sleep", "runAt": timezone.now().isoformat(), "delaySeconds": 5}, "runAt", ["not both"]),
    ({"type": "demo.sleep", "runAt": "9999-12-31T00:00:00Z"}, "runAt", ["366 days"]),
    ({"type": "demo.sleep", "runAt": "tomorrow"}, "runAt", []),
    ({"type": "demo.sleep", "dedupKey": ""}, "dedupKey", []),
    ({"type": "demo.sleep", "dedupKey": "x" * 201}, "dedupKey", ["200"]),
    ({"type": "demo.sleep", "projectId": 987654}, "projectId", ["no project 987654"]),
    ({"type": "demo.sleep", "orgId": 987654}, "orgId", ["no organization 987654"]),
    ({"type": "demo.sleep", "delay": 5}, "delay", ["unknown field 'delay'"]),
    ({"type": "test.schema", "input": {"email": "a@b.c"}}, "input.invoice_id", ["required"]),
])
def test_create_refuses_bad_input_naming_the_field_and_creates_nothing(db: None, body: dict[str, Any], field: str,
                                                                       words: list[str]) -> None:
    response = client_for(make_user()).post("/api/jobs", body, format="json")
    assert_bad(response, field, *words)
    assert Job.objects.count() == 0


def test_create_refuses_a_body_that_is_not_json(db: None) -> None:
    client = client_for(make_user())
    response = client.post("/api/jobs", "{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    response = client.post("/api/jobs", "type=demo.sleep", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert Job.objects.count() == 0


# --- cancel, delete, retry ------------------------------------------------------------------------


def test_cancel_a_queued_job(db: None) -> None:
    user = make_user()
    job = make_job("queued", created_by=user)
    response = client_for(user).post(f"/api/jobs/{job.pk}/cancel")
    assert response.status_code == 200
    job.refresh_from_db()
    assert response.json() == {"id": str(job.pk), "status": "cancelled", "cancelRequested": True,
                               "completedAt": presenters.iso(job.completed_at)}
    assert job.status == "cancelled"


def test_cancel_a_running_job_asks_it_to_stop(db: None) -> None:
    user = make_user()
    job = make_job("running", created_by=user)
    response = client_for(user).post(f"/api/jobs/{job.pk}/cancel")
    assert response.status_code == 202
    assert response.json() == {"id": str(job.pk), "status": "running", "cancelRequested": True, "completedAt": None}


def test_delete_cancels_the_job_and_keeps_its_row(db: None) -> None:
    user = make_user()
    job = make_job("queued", created_by=user)
    response = client_for(user).delete(f"/api/jobs/{job.pk}")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert Job.objects.filter(pk=job.pk, status="cancelled").exists()  # cancelled, not deleted


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
@pytest.mark.parametrize("how", ["post", "delete"])
def test_cancel_in_a_final_status_answers_409_naming_it(db: None, status: str, how: str) -> None:
    user = make_user()
    job = make_job(status, created_by=user)
    client = client_for(user)
    response = client.post(f"/api/jobs/{job.pk}/cancel") if how == "post" else client.delete(f"/api/jobs/{job.pk}")
    assert response.status_code == 409
    assert response.json() == {"detail": f"job {job.pk} is {status} and cannot become cancelled",
                               "code": "invalid_transition", "currentStatus": status}
    job.refresh_from_db()
    assert job.status == status


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_retry_answers_with_the_job_reset_to_queued(db: None, status: str) -> None:
    user = make_user()
    job = job_in_status(status, created_by=user)
    response = client_for(user).post(f"/api/jobs/{job.pk}/retry")
    assert response.status_code == 200, response.content
    assert response.json() == {"id": str(job.pk), "status": "queued", "progress": 0, "error": None,
                               "startedAt": None, "completedAt": None}


@pytest.mark.parametrize("status", ["queued", "running", "completed"])
def test_retry_in_another_status_answers_409_naming_it(db: None, status: str) -> None:
    user = make_user()
    job = make_job(status, created_by=user)
    response = client_for(user).post(f"/api/jobs/{job.pk}/retry")
    assert response.status_code == 409
    assert response.json()["currentStatus"] == status
    assert f"is {status} and cannot become queued" in response.json()["detail"]


# --- bulk -----------------------------------------------------------------------------------------


def test_bulk_cancel_by_ids_reports_what_changed_and_why_not(db: None) -> None:
    user = make_user()
    queued, running = make_job("queued", created_by=user), make_job("running", created_by=user)
    done = make_job("completed", created_by=user)
    missing = uuid.uuid4()
    response = client_for(user).post("/api/jobs/bulk/cancel", {"ids": [str(queued.pk), str(running.pk), str(done.pk),
                                                                        str(missing)]}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["changed"] == 2 and set(body["ids"]) == {str(queued.pk), str(running.pk)}
    assert body["hasMore"] is False
    errors = {error["id"]: error for error in body["errors"]}
    assert errors[str(done.pk)]["status"] == 409 and "is completed" in errors[str(done.pk)]["detail"]
    assert errors[str(missing)] == {"id": str(missing), "status": 404, "code": "not_found",
                                    "detail": f"job {missing} does not exist"}
    assert Job.objects.get(pk=queued.pk).status == "cancelled"


def test_bulk_retry_by_filters(db: None) -> None:
    user = make_user()
    failed = [make_job("failed", created_by=user, type="demo.flaky") for _ in range(3)]
    other_type = make_job("failed", created_by=user, type="demo.sleep")
    make_job("queued", created_by=user, type="demo.flaky")
    response = client_for(user).post("/api/jobs/bulk/retry", {"types": ["demo.flaky"]}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["changed"] == 3 and set(body["ids"]) == {str(job.pk) for job in failed}
    assert body["errors"] == [] and body["hasMore"] is False
    assert Job.objects.get(pk=other_type.pk).status == "failed"


def test_bulk_cancel_by_filters_with_aliases_and_a_cap(db: None, settings: Any) -> None:
    settings.JOBS_API_BULK_MAX = 2
    user = make_user()
    jobs = [make_job("queued", created_by=user, created_at=timezone.now() - timedelta(minutes=n)) for n in range(3)]
    client = client_for(user)
    response = client.post("/api/jobs/bulk/cancel", {"statuses": "Pending"}, format="json")
    body = response.json()
    assert body["changed"] == 2 and body["hasMore"] is True
    assert set(body["ids"]) == {str(jobs[2].pk), str(jobs[1].pk)}  # oldest first
    body = client.post("/api/jobs/bulk/cancel", {"statuses": ["pending"]}, format="json").json()
    assert body["changed"] == 1 and body["hasMore"] is False


@pytest.mark.parametrize("body, field", [
    ({}, "ids"),
    ({"ids": []}, "ids"),
    ({"ids": ["nope"]}, "ids"),
    ({"ids": [str(uuid.uuid4())], "statuses": ["queued"]}, "ids"),
    ({"statuses": ["exploded"]}, "statuses"),
    ({"everything": True}, "everything"),
])
def test_bulk_needs_ids_or_filters(db: None, body: dict[str, Any], field: str) -> None:
    make_job("queued")
    response = client_for(make_user(is_staff=True)).post("/api/jobs/bulk/cancel", body, format="json")
    assert_bad(response, field)
    assert not Job.objects.filter(status="cancelled").exists()


# --- projects and organizations ---------------------------------------------------------------------


def test_project_jobs_newest_first_paginated_and_stats(cast: Cast) -> None:
    client = cast.client("member")
    older = make_job("completed", created_by=cast.users["member"], organization=cast.org, project=cast.project,
                     created_at=timezone.now() - timedelta(hours=1))
    make_job("queued", created_by=cast.users["member"])  # not in the project
    response = client.get(f"/api/jobs/projects/{cast.project.pk}?limit=1")
    assert response.status_code == 200
    body = response.json()
    assert ids(response) == [str(cast.jobs["job_org"].pk)]
    assert body["pagination"] == {"total": 2, "totalIsExact": True, "offset": 0, "limit": 1, "hasNext": True}
    assert ids(client.get(f"/api/jobs/projects/{cast.project.pk}?offset=1")) == [str(older.pk)]
    assert ids(client.get(f"/api/jobs/projects/{cast.project.pk}?statuses=finished")) == [str(older.pk)]
    stats = client.get(f"/api/jobs/projects/{cast.project.pk}/stats")
    assert stats.json() == {"total": 2, "queued": 1, "running": 0, "completed": 1, "failed": 0, "cancelled": 0}
    assert_bad(client.get("/api/jobs/projects/abc"), "projectId")
    assert client.get("/api/jobs/projects/987654").status_code == 404
    assert client.get("/api/jobs/projects/987654/stats").status_code == 404


def test_org_jobs_list_create_and_stats(cast: Cast) -> None:
    client = cast.client("member")
    base = f"/api/v1/orgs/{cast.org.pk}/jobs"
    assert ids(client.get(base)) == [str(cast.jobs["job_org"].pk)]
    response = client.post(base, {"type": "demo.sleep", "input": {"seconds": 0}, "projectId": cast.project.pk},
                           format="json")
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["jobId"])
    assert job.organization == cast.org and job.created_by == cast.users["member"]
    listed = client.get(base).json()
    assert listed["pagination"]["total"] == 2 and listed["jobs"][0]["id"] == str(job.pk)
    assert client.get(f"{base}/stats").json() == {"total": 2, "queued": 2, "running": 0, "completed": 0,
                                                  "failed": 0, "cancelled": 0}
    other_project = client.post(base, {"type": "demo.sleep", "projectId": cast.other_project.pk}, format="json")
    assert other_project.status_code == 403  # a project of an organization the member is not in
    assert_bad(client.post(base, {"type": "demo.sleep", "orgId": cast.org.pk}, format="json"), "orgId", "unknown")
    assert_bad(client.get("/api/v1/orgs/acme/jobs"), "orgId")
    assert client.get("/api/v1/orgs/987654/jobs").status_code == 404
    assert client.get("/api/v1/orgs/987654/jobs/stats").status_code == 404


# --- job types, quotas, schema ------------------------------------------------------------------------


def test_job_types(db: None) -> None:
    response = client_for(make_user()).get("/api/job-types")
    assert response.status_code == 200
    types = {entry["type"]: entry for entry in response.json()["jobTypes"]}
    assert "test.system" not in types  # untracked jobs have no Job row: not for users
    sleep = types["demo.sleep"]
    assert sleep["queue"] == "default" and sleep["inputSchema"] is None
    assert sleep["policy"]["maxAttempts"] == 3 and sleep["description"].startswith("Sleeps")
    schema = types["test.schema"]["inputSchema"]
    assert schema["required"] == ["invoice_id", "email"] and schema["properties"]["invoice_id"]["type"] == "integer"
    assert types["process-attachment"]["policy"]["dedupKey"] == "attachment-{attachment_id}"


def test_quotas_me_shape(cast: Cast, settings: Any) -> None:
    settings.JOBS_QUOTA_PER_MINUTE, settings.JOBS_QUOTA_PER_HOUR, settings.JOBS_QUOTA_PER_DAY = 1, 10, 100
    body = cast.client("colleague").get("/api/quotas/me").json()
    assert body["exempt"] is False and body["maxBodyBytes"] == settings.JOBS_API_MAX_BODY_BYTES
    alone, in_org = body["scopes"]
    assert alone == {"orgId": None, "orgName": None, "limits": {"perMinute": 1, "perHour": 10, "perDay": 100},
                     "used": {"perMinute": 0, "perHour": 0, "perDay": 0},
                     "remaining": {"perMinute": 1, "perHour": 10, "perDay": 100},
                     "maxPayloadBytes": settings.JOBS_MAX_PAYLOAD_BYTES, "retryAfter": None}
    assert in_org["orgId"] == cast.org.pk and in_org["orgName"] == "Acme"
    assert in_org["used"] == {"perMinute": 1, "perHour": 1, "perDay": 1}  # job_org, created just now
    assert in_org["remaining"]["perMinute"] == 0 and 55 <= in_org["retryAfter"] <= 60
    assert cast.client("staff").get("/api/quotas/me").json()["exempt"] is True


def test_openapi_schema_and_docs(db: None) -> None:
    client = client_for(None)
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) >= {  # every jobs endpoint (the schedules API adds its own)
        "/api/jobs", "/api/jobs/{id}", "/api/jobs/{id}/cancel", "/api/jobs/{id}/retry", "/api/jobs/bulk",
        "/api/jobs/bulk/cancel",
        "/api/jobs/bulk/retry", "/api/jobs/projects/{projectId}", "/api/jobs/projects/{projectId}/stats",
        "/api/v1/orgs/{orgId}/jobs", "/api/v1/orgs/{orgId}/jobs/stats", "/api/job-types", "/api/quotas/me",
    }
    assert set(schema["paths"]["/api/jobs/{id}"]) == {"get", "delete"}
    assert "knoxApiToken" in schema["components"]["securitySchemes"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
    assert b"cdn.jsdelivr" not in docs.content  # assets served by this server (sidecar)
