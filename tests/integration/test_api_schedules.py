"""The schedules API: its contract (shapes, defaults, the next five runs, pagination), its
validation (400 naming the field, nothing stored), and who sees and does what: anonymous,
user A, user B, an organization member, an organization admin and staff against every
endpoint. Someone else's schedule answers 404 (never 403) and never shows in a list; system
schedules are for staff, and read-only (409) through the API."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from jobs.models import Job
from jobs.testing import jobs_recorded
from scheduler import selectors, services
from scheduler.api.serializers import ScheduleSerializer
from scheduler.models import ScheduledJob, ScheduleKind
from tests.api_support import Cast, cast, client_for, make_person, relaxed_quotas  # noqa: F401
from tests.factories import make_membership

pytestmark = pytest.mark.usefixtures("relaxed_quotas")

ROLES = ["anonymous", "a", "b", "member", "admin", "staff"]

# who may see each schedule
VISIBLE: dict[str, set[str]] = {
    "sched_a": {"a", "staff"},
    "sched_b": {"b", "staff"},
    "sched_org": {"member", "admin", "staff"},
    "sched_other": {"staff"},
    "sched_system": {"staff"},
}
# who may change, delete or run it
MANAGE: dict[str, set[str]] = {
    "sched_a": {"a", "staff"},
    "sched_b": {"b", "staff"},
    "sched_org": {"admin", "staff"},
    "sched_other": {"staff"},
    "sched_system": {"staff"},
}
DAILY: dict[str, Any] = {"type": "demo.sleep", "input": {"seconds": 0}, "frequency": "daily", "timeOfDay": "03:00"}


def _user_schedule(owner: Any, name: str, organization: Any = None) -> ScheduledJob:
    return services.schedule_create(owner=owner, name=name, job_type="demo.sleep", input={"seconds": 0},
                                    frequency="daily", time_of_day="03:00", organization=organization)


@pytest.fixture
def schedules(cast: Cast) -> dict[str, ScheduledJob]:
    """One schedule in each place of the cast, and a system schedule."""
    outsider = cast.jobs["job_other"].created_by
    system = ScheduledJob.objects.create(kind=ScheduleKind.SYSTEM, name="api-test-system", job_type="storage:cleanup",
                                         frequency="cron", cron="0 * * * *", timezone="UTC")
    return {
        "sched_a": _user_schedule(cast.users["a"], "a's report"),
        "sched_b": _user_schedule(cast.users["b"], "b's report"),
        "sched_org": _user_schedule(cast.users["colleague"], "org report", cast.org),
        "sched_other": _user_schedule(outsider, "globex report", cast.other_org),
        "sched_system": system,
    }


def listed(schedules: dict[str, ScheduledJob], response: Any) -> set[str]:
    by_id = {schedule.pk: key for key, schedule in schedules.items()}
    return {by_id.get(item["id"], item["name"]) for item in response.json()["schedules"]}


def assert_anonymous_refused(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Bearer"


def assert_not_found(response: Any, schedule: ScheduledJob) -> None:
    assert response.status_code == 404, response.content
    # exactly the answer for a schedule that does not exist
    assert response.json() == {"detail": f"schedule {schedule.pk} does not exist", "code": "not_found"}


# --- contract ---------------------------------------------------------------------------------------


def test_create_answers_the_schedule_with_defaults_and_its_next_five_runs(cast: Cast, settings: Any) -> None:
    response = cast.client("a").post("/api/schedules", {"name": "nightly", **DAILY}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == set(ScheduleSerializer().fields)  # the schema describes every key
    schedule = ScheduledJob.objects.get(pk=body["id"])
    assert response["Location"] == f"/api/schedules/{schedule.pk}"
    assert body["kind"] == "user" and body["ownerId"] == cast.users["a"].pk and body["organizationId"] is None
    assert body["type"] == body["jobType"] == "demo.sleep" and body["input"] == {"seconds": 0}
    assert (body["frequency"], body["timeOfDay"], body["cron"]) == ("daily", "03:00", "0 3 * * *")
    # the defaults
    assert body["enabled"] is True and body["paused"] is False and body["state"] == "active"
    assert (body["overlap"], body["catchUp"], body["timezone"]) == ("skip", "run_once", settings.TIME_ZONE)
    assert body["description"] == "" and body["runCount"] == 0 and body["lastJobId"] is None
    runs = [datetime.fromisoformat(moment) for moment in body["nextRuns"]]
    assert len(runs) == 5 and runs == sorted(runs) and len(set(runs)) == 5
    assert all(moment.endswith("Z") for moment in body["nextRuns"])
    assert body["nextRunAt"] == body["nextRuns"][0]
    assert cast.client("a").get(f"/api/schedules/{schedule.pk}").json() == body


def test_a_cron_schedule_in_its_own_time_zone(cast: Cast) -> None:
    response = cast.client("a").post("/api/schedules", {
        "name": "quarter-hourly", "type": "demo.sleep", "frequency": "cron", "cron": "*/15  8-18 * * 1-5",
        "timezone": "Europe/Paris", "overlap": "allow", "catchUp": "skip", "enabled": False,
    }, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["cron"], body["timezone"], body["overlap"], body["catchUp"]) == \
        ("*/15 8-18 * * 1-5", "Europe/Paris", "allow", "skip")
    assert body["state"] == "disabled" and body["nextRuns"] == [] and body["nextRunAt"] is None


def test_list_is_paginated_by_name(cast: Cast, schedules: dict[str, ScheduledJob]) -> None:
    for name in ("zeta", "alpha"):
        cast.client("a").post("/api/schedules", {"name": name, **DAILY}, format="json")
    everything = cast.client("a").get("/api/schedules").json()
    assert [item["name"] for item in everything["schedules"]] == ["a's report", "alpha", "zeta"]
    assert all(len(item["nextRuns"]) == 5 for item in everything["schedules"])
    page = cast.client("a").get("/api/schedules?limit=1&offset=1").json()
    assert [item["name"] for item in page["schedules"]] == ["alpha"]
    assert page["pagination"] == {"total": 3, "offset": 1, "limit": 1, "hasNext": True}
    bad = cast.client("a").get("/api/schedules?limit=0")
    assert bad.status_code == 400 and bad.json()["field"] == "limit"


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"frequency": "cron", "timeOfDay": None, "cron": "61 * * * *"}, "cron", ""),
        ({"frequency": "cron", "timeOfDay": None, "cron": "every day"}, "cron", ""),
        ({"frequency": "cron", "timeOfDay": None}, "cron", "is required for a cron schedule"),
        ({"frequency": "hourly"}, "frequency", '"hourly" is not one of daily, weekly, monthly, cron, interval'),
        ({"timeOfDay": None}, "timeOfDay", "is required for a daily schedule"),
        ({"timeOfDay": "25:00"}, "timeOfDay", "is not a time of day"),
        ({"timeOfDay": "3pm"}, "timeOfDay", "is not a time of day"),
        ({"weekday": 2}, "weekday", "does not apply to a daily schedule"),
        ({"frequency": "weekly"}, "weekday", "is required for a weekly schedule"),
        ({"frequency": "weekly", "weekday": 7}, "weekday", "less than or equal to 6"),
        ({"frequency": "monthly"}, "dayOfMonth", "is required for a monthly schedule"),
        ({"frequency": "monthly", "dayOfMonth": 31}, "dayOfMonth", "give 1 to 28"),
        ({"frequency": "interval", "timeOfDay": None, "intervalSeconds": 0.001}, "intervalSeconds",
         "JOBS_SCHEDULE_MIN_INTERVAL"),
        ({"type": "no.such.type"}, "type", "'no.such.type' is not a registered type"),
        ({"type": "storage:cleanup"}, "type", "is an untracked job, which only system schedules start"),
        ({"input": [1, 2]}, "input", "must be a JSON object"),
        ({"input": {"text": "a\x00b"}}, "input", "NUL"),
        ({"timezone": "Mars/Olympus"}, "timezone", ""),
        ({"name": ""}, "name", ""),
        ({"overlap": "sometimes"}, "overlap", "is not one of skip, allow"),
        ({"organizationId": 999_999}, "organizationId", "no organization 999999"),
        ({"jobType": "demo.sleep"}, "jobType", "unknown field 'jobType'"),
    ],
)
def test_a_bad_schedule_answers_400_naming_the_field_and_nothing_is_stored(
    cast: Cast, changes: dict[str, Any], field: str, words: str
) -> None:
    body = {"name": "nightly", **DAILY, **changes}
    response = cast.client("a").post("/api/schedules", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["field"] == field and error["code"] == "invalid"
    assert error["detail"].startswith(f"{field}: ") and words in error["detail"]
    assert not ScheduledJob.objects.exists() and not PeriodicTask.objects.filter(name__startswith="user-").exists()


def test_missing_required_fields_are_named(cast: Cast) -> None:
    for missing in ("name", "type", "frequency"):
        body = {"name": "nightly", **DAILY}
        del body[missing]
        response = cast.client("a").post("/api/schedules", body, format="json")
        assert response.status_code == 400 and response.json()["field"] == missing
    assert not ScheduledJob.objects.exists()


def test_a_bad_patch_answers_400_naming_the_field_and_changes_nothing(
    cast: Cast, schedules: dict[str, ScheduledJob]
) -> None:
    schedule = schedules["sched_a"]
    before = cast.client("a").get(f"/api/schedules/{schedule.pk}").json()
    for changes, field in (({"frequency": "cron", "cron": "* * *"}, "cron"), ({"frequency": "weekly"}, "weekday"),
                           ({"timeOfDay": "24:00"}, "timeOfDay"), ({"type": "nope"}, "type"),
                           ({"name": "b's report", "enabled": "perhaps"}, "enabled")):
        response = cast.client("a").patch(f"/api/schedules/{schedule.pk}", changes, format="json")
        assert response.status_code == 400 and response.json()["field"] == field, response.content
    assert cast.client("a").get(f"/api/schedules/{schedule.pk}").json() == before


def test_a_duplicate_name_is_refused(cast: Cast, schedules: dict[str, ScheduledJob]) -> None:
    response = cast.client("a").post("/api/schedules", {"name": "a's report", **DAILY}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "name"
    assert "already has a schedule named" in response.json()["detail"]


@pytest.mark.parametrize("raw", ["abc", "0", "-1", str(2**63), "1.5"])
def test_a_malformed_id_answers_400_naming_it(cast: Cast, raw: str) -> None:
    for response in (cast.client("a").get(f"/api/schedules/{raw}"),
                     cast.client("a").patch(f"/api/schedules/{raw}", {}, format="json"),
                     cast.client("a").delete(f"/api/schedules/{raw}"),
                     cast.client("a").post(f"/api/schedules/{raw}/run")):
        assert response.status_code == 400 and response.json()["field"] == "id", response.content


def test_an_oversized_body_is_refused(cast: Cast, settings: Any) -> None:
    settings.JOBS_API_MAX_BODY_BYTES = 1000
    response = cast.client("a").post("/api/schedules", {"name": "big", **DAILY, "input": {"x": "y" * 2000}},
                                     format="json")
    assert response.status_code == 413 and not ScheduledJob.objects.exists()


# --- permissions: reads -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_list_shows_exactly_the_visible_schedules(cast: Cast, schedules: dict[str, ScheduledJob],
                                                  role: str) -> None:
    response = cast.client(role).get("/api/schedules")
    if role == "anonymous":
        return assert_anonymous_refused(response)
    assert response.status_code == 200
    expected = {name for name, roles in VISIBLE.items() if role in roles}
    assert listed(schedules, response) == expected
    assert response.json()["pagination"]["total"] == len(expected)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("schedule", list(VISIBLE))
def test_detail_answers_404_for_schedules_one_may_not_see(cast: Cast, schedules: dict[str, ScheduledJob],
                                                          role: str, schedule: str) -> None:
    target = schedules[schedule]
    response = cast.client(role).get(f"/api/schedules/{target.pk}")
    if role == "anonymous":
        return assert_anonymous_refused(response)
    if role in VISIBLE[schedule]:
        assert response.status_code == 200 and response.json()["id"] == target.pk
    else:
        assert_not_found(response, target)


def test_a_schedule_that_does_not_exist_answers_404(cast: Cast) -> None:
    response = cast.client("staff").get("/api/schedules/987654")
    assert response.status_code == 404 and response.json()["detail"] == "schedule 987654 does not exist"


# --- permissions: changes ------------------------------------------------------------------------------


def _act(client: APIClient, action: str, schedule: ScheduledJob) -> Any:
    if action == "patch":
        return client.patch(f"/api/schedules/{schedule.pk}", {"timeOfDay": "05:30", "enabled": False},
                            format="json")
    if action == "delete":
        return client.delete(f"/api/schedules/{schedule.pk}")
    return client.post(f"/api/schedules/{schedule.pk}/run")


VERB = {"patch": "change", "delete": "delete", "run": "run"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("schedule", list(VISIBLE))
@pytest.mark.parametrize("action", ["patch", "delete", "run"])
def test_changes_404_for_unseen_403_for_seen_only_and_allowed_otherwise(
    cast: Cast, schedules: dict[str, ScheduledJob], role: str, schedule: str, action: str
) -> None:
    target = schedules[schedule]
    before = ScheduledJob.objects.values().get(pk=target.pk)
    with jobs_recorded():
        response = _act(cast.client(role), action, target)
    unchanged = ScheduledJob.objects.filter(pk=target.pk).values().first() == before
    if role == "anonymous":
        assert_anonymous_refused(response)
        assert unchanged
    elif role not in VISIBLE[schedule]:
        assert_not_found(response, target)
        assert unchanged
    elif role not in MANAGE[schedule]:
        assert response.status_code == 403, response.content
        assert response.json()["detail"] == (f"you may not {VERB[action]} schedule {target.pk}: only its owner, "
                                             "an admin of its organization or staff may")
        assert unchanged
    elif target.is_system and action != "run":
        # defined in code: the API may read and run it, never edit or delete it
        assert response.status_code == 409, response.content
        assert response.json()["code"] == "conflict" and "is a system schedule, defined in code" in \
            response.json()["detail"]
        assert unchanged
    elif action == "patch":
        assert response.status_code == 200, response.content
        assert (response.json()["timeOfDay"], response.json()["state"]) == ("05:30", "disabled")
    elif action == "delete":
        assert response.status_code == 204, response.content
        assert not ScheduledJob.objects.filter(pk=target.pk).exists()
    elif target.is_system:
        assert response.status_code == 202, response.content
        assert response.json()["outcome"] == "sent" and response.json()["jobId"] is None
    else:
        assert response.status_code == 201, response.content
        job = Job.objects.get(pk=response.json()["jobId"])
        # the schedule's owner's job, whoever pressed the button
        assert job.created_by_id == target.owner_id and job.organization_id == target.organization_id


# --- permissions: creating, organizations ---------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_creating_in_an_organization_needs_a_membership(cast: Cast, role: str) -> None:
    in_org = cast.client(role).post("/api/schedules", {"name": "in org", **DAILY, "organizationId": cast.org.pk},
                                    format="json")
    scoped = cast.client(role).post(f"/api/v1/orgs/{cast.org.pk}/schedules", {"name": "scoped", **DAILY},
                                    format="json")
    other = cast.client(role).post("/api/schedules", {"name": "other", **DAILY, "organizationId": cast.other_org.pk},
                                   format="json")
    if role == "anonymous":
        for response in (in_org, scoped, other):
            assert_anonymous_refused(response)
        return
    for response, org in ((in_org, cast.org), (scoped, cast.org), (other, cast.other_org)):
        if role in {"member", "admin", "staff"} and (org == cast.org or role == "staff"):
            assert response.status_code == 201, response.content
            assert response.json()["organizationId"] == org.pk
            assert response.json()["ownerId"] == cast.users[role].pk
        else:
            assert response.status_code == 403, response.content
            assert response.json()["detail"] == f"you are not a member of organization {org.pk}"
    expected = {"member": 2, "admin": 2, "staff": 3}.get(role, 0)
    assert ScheduledJob.objects.count() == expected


@pytest.mark.parametrize("role", ROLES)
def test_an_organizations_schedules(cast: Cast, schedules: dict[str, ScheduledJob], role: str) -> None:
    response = cast.client(role).get(f"/api/v1/orgs/{cast.org.pk}/schedules")
    if role == "anonymous":
        return assert_anonymous_refused(response)
    if role in {"member", "admin", "staff"}:
        assert response.status_code == 200 and listed(schedules, response) == {"sched_org"}
    else:
        assert response.status_code == 403
    missing = cast.client(role).get("/api/v1/orgs/987654/schedules")
    assert missing.status_code == 404 and missing.json()["detail"] == "no organization 987654"
    assert cast.client(role).get("/api/v1/orgs/x/schedules").json()["field"] == "orgId"


def test_the_organization_comes_from_the_path(cast: Cast) -> None:
    response = cast.client("member").post(f"/api/v1/orgs/{cast.org.pk}/schedules",
                                          {"name": "x", **DAILY, "organizationId": cast.org.pk}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "organizationId"


def test_moving_a_schedule_to_an_organization_needs_a_membership(cast: Cast,
                                                                 schedules: dict[str, ScheduledJob]) -> None:
    schedule = schedules["sched_a"]
    response = cast.client("a").patch(f"/api/schedules/{schedule.pk}", {"organizationId": cast.org.pk},
                                      format="json")
    assert response.status_code == 403 and ScheduledJob.objects.get(pk=schedule.pk).organization_id is None
    member = make_person("member-owner")
    make_membership(member, cast.org)
    mine = _user_schedule(member, "mine")
    moved = client_for(member).patch(f"/api/schedules/{mine.pk}", {"organizationId": cast.org.pk}, format="json")
    assert moved.status_code == 200 and moved.json()["organizationId"] == cast.org.pk
    back = client_for(member).patch(f"/api/schedules/{mine.pk}", {"organizationId": None}, format="json")
    assert back.status_code == 200 and back.json()["organizationId"] is None


# --- the PeriodicTask, run now ----------------------------------------------------------------------------


def test_patch_resyncs_the_periodic_task_and_delete_removes_it(cast: Cast, schedules: dict[str, ScheduledJob]) -> None:
    schedule = schedules["sched_a"]
    task = PeriodicTask.objects.select_related("crontab").get(pk=schedule.periodic_task_id)
    assert task.enabled and (task.crontab.minute, task.crontab.hour) == ("0", "3")

    response = cast.client("a").patch(f"/api/schedules/{schedule.pk}",
                                      {"timeOfDay": "05:30", "timezone": "Europe/Paris"}, format="json")
    assert response.status_code == 200, response.content
    task = PeriodicTask.objects.select_related("crontab").get(pk=schedule.periodic_task_id)
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == ("30", "5", "Europe/Paris")
    assert all(moment.endswith(("03:30:00Z", "04:30:00Z")) for moment in response.json()["nextRuns"])

    response = cast.client("a").patch(f"/api/schedules/{schedule.pk}", {"enabled": False}, format="json")
    assert response.json()["state"] == "disabled" and response.json()["nextRuns"] == []
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled is False
    response = cast.client("a").patch(f"/api/schedules/{schedule.pk}", {"enabled": True}, format="json")
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled is True
    assert len(response.json()["nextRuns"]) == 5

    response = cast.client("a").delete(f"/api/schedules/{schedule.pk}")
    assert response.status_code == 204
    assert not PeriodicTask.objects.filter(pk=schedule.periodic_task_id).exists()
    assert cast.client("a").get(f"/api/schedules/{schedule.pk}").status_code == 404


def test_run_now_creates_a_job_owned_by_the_owner(cast: Cast, schedules: dict[str, ScheduledJob],
                                                  django_capture_on_commit_callbacks: Any) -> None:
    schedule = schedules["sched_org"]
    # the job is published when its transaction commits
    with jobs_recorded() as sent, django_capture_on_commit_callbacks(execute=True):
        response = cast.client("admin").post(f"/api/schedules/{schedule.pk}/run")
    assert response.status_code == 201, response.content
    body = response.json()
    job = Job.objects.get(pk=body["jobId"])
    assert body == {"scheduleId": schedule.pk, "outcome": "created", "jobId": str(job.pk), "status": "queued",
                    "taskId": None}
    assert response["Location"] == f"/api/jobs/{job.pk}"
    assert (job.created_by, job.organization, job.type, job.input) == \
        (cast.users["colleague"], cast.org, "demo.sleep", {"seconds": 0})
    assert [record.job_type for record in sent] == ["demo.sleep"]
    detail = cast.client("member").get(f"/api/schedules/{schedule.pk}").json()
    assert (detail["lastJobId"], detail["lastOutcome"], detail["runCount"]) == (str(job.pk), "created", 1)
    # overlap "skip": the previous run is still queued
    with jobs_recorded():
        again = cast.client("admin").post(f"/api/schedules/{schedule.pk}/run")
    assert again.status_code == 409 and "overlap policy is 'skip'" in again.json()["detail"]
    assert selectors.schedule_jobs(schedule=schedule).count() == 1


def test_run_now_counts_in_the_owners_quota(cast: Cast, schedules: dict[str, ScheduledJob], settings: Any) -> None:
    schedule = services.schedule_update(schedule=schedules["sched_b"], overlap="allow")
    settings.JOBS_QUOTA_PER_MINUTE = Job.objects.filter(created_by=cast.users["b"]).count() + 1
    with jobs_recorded():
        first = cast.client("staff").post(f"/api/schedules/{schedule.pk}/run")
        second = cast.client("b").post(f"/api/schedules/{schedule.pk}/run")
    assert first.status_code == 201, first.content
    assert second.status_code == 429, second.content
    assert second.json()["code"] == "quota_exceeded" and int(second["Retry-After"]) >= 1
