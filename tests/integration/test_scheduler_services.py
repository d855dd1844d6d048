"""User schedules and firing, through the services (no worker: inside the `db` fixture's
transaction nothing is published). Validation names the field; the PeriodicTask follows the
schedule; one job per tick; catch-up runs once; overlap "skip" holds; run-now; quotas."""
from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from jobs.models import Job, Membership
from jobs.selectors import may_act, may_see
from jobs.storage import durability
from jobs.testing import jobs_recorded
from scheduler import selectors, services
from scheduler.errors import ScheduleConflict, ScheduleNotFound, ScheduleValidationError
from scheduler.models import FireOutcome, ScheduledJob
from scheduler.presenters import WRITABLE_FIELDS, schedule_to_dict
from tests.factories import make_job, make_membership, make_org, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_quotas():
    with override_settings(JOBS_QUOTA_PER_MINUTE=0, JOBS_QUOTA_PER_HOUR=0, JOBS_QUOTA_PER_DAY=0):
        yield


@pytest.fixture
def every_system_schedule_on():
    # the test environment switches the handler families' schedules off for other tests' beats
    with override_settings(JOBS_SCHEDULES_DISABLED=[]):
        yield


@pytest.fixture
def owner() -> Any:
    return make_user("owner")


def daily(owner: Any, **changes: Any) -> ScheduledJob:
    values: dict[str, Any] = {"owner": owner, "name": "nightly report", "job_type": "demo.sleep",
                              "frequency": "daily", "time_of_day": "03:00", "input": {"seconds": 0}}
    values.update(changes)
    return services.schedule_create(**values)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"name": ""}, "name", "must be 1 to 100 characters"),
        ({"job_type": "no.such.type"}, "jobType", "'no.such.type' is not a registered type"),
        ({"job_type": "storage:cleanup"}, "jobType", "is an untracked job, which only system schedules start"),
        ({"frequency": "hourly"}, "frequency", "'hourly' is not one of daily, weekly, monthly, cron, interval"),
        ({"time_of_day": None}, "timeOfDay", "is required for a daily schedule"),
        ({"time_of_day": "25:00"}, "timeOfDay", "'25:00' is not a time of day; write HH:MM"),
        ({"time_of_day": time(3, 0, 30)}, "timeOfDay", "has seconds"),
        ({"weekday": 2}, "weekday", "does not apply to a daily schedule"),
        ({"frequency": "weekly"}, "weekday", "is required for a weekly schedule"),
        ({"frequency": "weekly", "weekday": 9}, "weekday", "9 is not a weekday"),
        ({"frequency": "monthly", "day_of_month": 31}, "dayOfMonth", "give 1 to 28"),
        ({"frequency": "cron", "time_of_day": None}, "cron", "is required for a cron schedule"),
        ({"frequency": "cron", "time_of_day": None, "cron": "0 3 * *"}, "cron", "has 4 field(s)"),
        ({"frequency": "cron", "time_of_day": None, "cron": "0 3 * * 8"}, "cron", "the day of week field '8'"),
        ({"frequency": "cron", "cron": "0 3 * * *"}, "timeOfDay", "does not apply to a cron schedule"),
        ({"frequency": "interval", "time_of_day": None, "interval_seconds": 5}, "intervalSeconds",
         "give a number of seconds >= 60"),
        ({"timezone_name": "Mars/Olympus"}, "timezone", "'Mars/Olympus' is not a known time zone"),
        ({"input": [1]}, "input", "must be a JSON object, got list"),
        ({"job_type": "test.schema", "input": {"invoice_id": "x"}}, "input.invoice_id", ""),
        ({"overlap": "sometimes"}, "overlap", "'sometimes' is not one of skip, allow"),
        ({"catch_up": "all"}, "catchUp", "'all' is not one of run_once, skip"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field_and_nothing_is_stored(
    owner: Any, changes: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ScheduleValidationError) as refused:
        daily(owner, **changes)
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ") and words in str(refused.value)
    assert not ScheduledJob.objects.exists() and not PeriodicTask.objects.exists()


def test_an_organization_schedule_needs_a_member(owner: Any) -> None:
    org = make_org()
    with pytest.raises(ScheduleValidationError) as refused:
        daily(owner, organization=org)
    assert refused.value.field == "organizationId" and f"is not a member of organization {org.pk}" in str(refused.value)
    make_membership(owner, org)
    assert daily(owner, organization=org).organization == org


def test_two_schedules_of_one_owner_need_two_names(owner: Any) -> None:
    daily(owner)
    with pytest.raises(ScheduleValidationError) as refused:
        daily(owner)
    assert refused.value.field == "name" and "already has a schedule named 'nightly report'" in str(refused.value)
    daily(make_user())  # another owner may


# --- the PeriodicTask follows the schedule -------------------------------------------------------


def test_create_update_pause_resume_delete_keep_the_periodic_task_in_step(owner: Any) -> None:
    schedule = daily(owner, timezone_name="Europe/Paris", frequency="weekly", weekday="friday")
    task = PeriodicTask.objects.select_related("crontab").get(pk=schedule.periodic_task_id)
    assert task.name == f"user-schedule:{schedule.pk}" and task.task == "scheduler.fire_schedule"
    assert json.loads(task.kwargs) == {"schedule_id": schedule.pk} and task.queue == "system" and task.enabled
    cron = task.crontab
    assert (cron.minute, cron.hour, cron.day_of_month, cron.day_of_week, str(cron.timezone)) == \
        ("0", "3", "*", "5", "Europe/Paris")  # Friday is 5 counted from Sunday
    assert schedule.next_run_at is not None
    assert schedule.next_run_at.astimezone(ZoneInfo("Europe/Paris")).weekday() == 4

    schedule = services.schedule_update(schedule=schedule, frequency="cron", cron="*/15 8-18 * * *")
    cron = PeriodicTask.objects.select_related("crontab").get(pk=schedule.periodic_task_id).crontab
    assert (cron.minute, cron.hour, cron.day_of_week) == ("*/15", "8-18", "*")
    assert schedule.time_of_day is None and schedule.weekday is None  # what no longer applies is dropped

    schedule = services.schedule_update(schedule=schedule, frequency="interval", interval_seconds=300)
    interval = PeriodicTask.objects.select_related("interval").get(pk=schedule.periodic_task_id).interval
    assert (interval.every, interval.period) == (300, "seconds") and schedule.cron == ""

    paused = services.schedule_pause(schedule=schedule)
    assert paused.paused and not PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled
    later = timezone.now() + timedelta(hours=5)
    resumed = services.schedule_resume(schedule=paused, now=later)
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled
    assert resumed.next_run_at == later + timedelta(seconds=300)  # nothing caught up from the pause

    services.schedule_delete(schedule=resumed)
    assert not ScheduledJob.objects.exists() and not PeriodicTask.objects.exists()


def test_an_update_refuses_a_field_that_does_not_exist_or_does_not_apply(owner: Any) -> None:
    schedule = daily(owner)
    with pytest.raises(ScheduleValidationError) as refused:
        services.schedule_update(schedule=schedule, owner=make_user())
    assert refused.value.field == "owner"
    with pytest.raises(ScheduleValidationError) as refused:
        services.schedule_update(schedule=schedule, day_of_month=3)
    assert refused.value.field == "dayOfMonth" and "does not apply to a daily schedule" in str(refused.value)
    assert ScheduledJob.objects.get(pk=schedule.pk).day_of_month is None


def test_a_system_schedule_is_edited_in_code_only() -> None:
    services.schedules_sync()
    schedule = ScheduledJob.objects.get(name="jobs:cleanup")
    with pytest.raises(ScheduleConflict, match="is a system schedule, defined in code"):
        services.schedule_update(schedule=schedule, enabled=False)
    with pytest.raises(ScheduleConflict):
        services.schedule_delete(schedule=schedule)


# --- firing -----------------------------------------------------------------------------------


def test_a_tick_is_claimed_in_a_transaction_that_commits_durably_even_on_a_worker(owner: Any, monkeypatch) -> None:
    asked: list[bool] = []
    durably = durability.commit_durably
    monkeypatch.setattr(durability, "_in_worker", True)

    def durably_noting_the_block() -> None:
        asked.append(connection.in_atomic_block)
        durably()

    monkeypatch.setattr(durability, "commit_durably", durably_noting_the_block)
    schedule = daily(owner, now=at("2025-06-01T12:00:00"))
    assert services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-02T03:00:00.2")).fired
    assert asked == [True]


def test_a_tick_creates_one_job_owned_by_the_owner_whatever_asks_for_it(owner: Any) -> None:
    org = make_org()
    make_membership(owner, org)
    schedule = daily(owner, organization=org, now=at("2025-06-01T12:00:00"))
    assert schedule.next_run_at == at("2025-06-02T03:00:00")
    assert not services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-02T02:59:00")).fired  # not due

    first = services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-02T03:00:00.2"))
    assert first.outcome == FireOutcome.CREATED and first.scheduled_for == at("2025-06-02T03:00:00")
    job = first.job
    assert job is not None
    assert job.created_by == owner and job.organization == org and job.type == "demo.sleep"
    assert job.dedup_key == f"org-{org.pk}:schedule:{schedule.pk}:2025-06-02T03:00:00Z"
    assert job.dedup_key.startswith(schedule.job_key_prefix())
    # a second beat, a redelivered message, the overdue check: the tick is taken
    for now in ("2025-06-02T03:00:00.9", "2025-06-02T03:00:30", "2025-06-02T03:20:00"):
        again = services.schedule_fire(schedule_id=schedule.pk, now=at(now))
        assert not again.fired and "not due until 2025-06-03T03:00:00Z" in again.reason
    assert Job.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.last_job == job and schedule.last_outcome == FireOutcome.CREATED and schedule.run_count == 1
    assert schedule.last_run_at == at("2025-06-02T03:00:00") and schedule.next_run_at == at("2025-06-03T03:00:00")


def test_a_message_a_little_early_takes_its_tick(owner: Any) -> None:
    schedule = daily(owner, now=at("2025-06-01T12:00:00"))
    early = services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-02T02:59:59"))
    assert early.outcome == FireOutcome.CREATED and early.scheduled_for == at("2025-06-02T03:00:00")


def test_beat_down_over_many_ticks_runs_once_not_once_per_tick(owner: Any) -> None:
    schedule = services.schedule_create(owner=owner, name="hourly", job_type="demo.sleep", frequency="cron",
                                        cron="0 * * * *", now=at("2025-06-01T00:30:00"))
    late = services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-01T07:10:00"))  # 7 ticks missed
    assert late.outcome == FireOutcome.CREATED and late.scheduled_for == at("2025-06-01T07:00:00")
    assert Job.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.next_run_at == at("2025-06-01T08:00:00")
    assert "fired by beat, 600s late after missed ticks" in schedule.last_message


def test_catch_up_skip_drops_a_late_tick_and_waits_for_the_next(owner: Any) -> None:
    schedule = daily(owner, catch_up="skip", now=at("2025-06-01T12:00:00"))
    late = services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-02T09:00:00"))
    assert late.outcome == FireOutcome.SKIPPED_MISSED and not Job.objects.exists()
    on_time = services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-03T03:00:01"))
    assert on_time.outcome == FireOutcome.CREATED


def test_overlap_skip_holds_a_tick_while_the_previous_run_is_queued_or_running(owner: Any) -> None:
    schedule = services.schedule_create(owner=owner, name="hourly", job_type="demo.sleep", frequency="cron",
                                        cron="0 * * * *", now=at("2025-06-01T00:30:00"))
    first = services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-01T01:00:00")).job
    assert first is not None
    for status in ("queued", "running"):
        Job.objects.filter(pk=first.pk).update(status=status)
        hour = 2 if status == "queued" else 3
        held = services.schedule_fire(schedule_id=schedule.pk, now=at(f"2025-06-01T0{hour}:00:00"))
        assert held.outcome == FireOutcome.SKIPPED_OVERLAP
        assert f"job {first.pk} of the previous run is still {status}" in held.reason
    assert Job.objects.count() == 1
    Job.objects.filter(pk=first.pk).update(status="completed")
    assert services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-01T04:00:00")).outcome == "created"


def test_overlap_allow_starts_a_run_beside_the_previous_one(owner: Any) -> None:
    schedule = services.schedule_create(owner=owner, name="hourly", job_type="demo.sleep", frequency="cron",
                                        cron="0 * * * *", overlap="allow", now=at("2025-06-01T00:30:00"))
    services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-01T01:00:00"))
    assert services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-01T02:00:00")).outcome == "created"
    assert Job.objects.filter(status="queued").count() == 2


def test_an_interval_schedule_fires_every_n_seconds_after_its_last_run(owner: Any) -> None:
    with override_settings(JOBS_SCHEDULE_MIN_INTERVAL=1):
        schedule = services.schedule_create(owner=owner, name="often", job_type="demo.sleep", frequency="interval",
                                            interval_seconds=5, overlap="allow", now=at("2025-06-01T00:00:00"))
    assert schedule.next_run_at == at("2025-06-01T00:00:05")
    assert not services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-01T00:00:02")).fired
    fired = services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-01T00:00:04"))  # 1 s early: taken
    assert fired.outcome == "created" and fired.scheduled_for == at("2025-06-01T00:00:05")
    assert not services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-01T00:00:06")).fired
    schedule.refresh_from_db()
    assert schedule.next_run_at == at("2025-06-01T00:00:10")


def test_a_tracked_system_schedule_creates_a_job_with_no_owner(every_system_schedule_on: None) -> None:
    services.schedules_sync()
    schedule = ScheduledJob.objects.get(name="process-attachments-maintenance")
    result = services.schedule_fire(schedule_id=schedule.pk, now=schedule.next_run_at)
    assert result.outcome == "created"
    job = result.job
    assert job is not None and result.scheduled_for is not None
    assert job.type == "process-attachments-maintenance" and job.created_by is None
    tick = result.scheduled_for.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert job.dedup_key == f"system:process-attachments-maintenance:{tick}"


def test_a_system_job_schedule_sends_a_system_job_once_per_tick(every_system_schedule_on: None) -> None:
    services.schedules_sync()
    schedule = ScheduledJob.objects.get(name="storage:cleanup")
    with jobs_recorded() as sent:
        first = services.schedule_fire(schedule_id=schedule.pk, now=schedule.next_run_at)
        second = services.schedule_fire(schedule_id=schedule.pk, now=schedule.next_run_at)
    assert first.outcome == FireOutcome.SENT and first.task_id and not second.fired
    assert [(r.job_type, r.queue) for r in sent] == [("storage:cleanup", "system")]
    assert not Job.objects.exists()
    schedule.refresh_from_db()
    assert schedule.last_outcome == "sent" and schedule.run_count == 1


def test_a_paused_or_deleted_schedule_does_not_fire(owner: Any) -> None:
    schedule = daily(owner, now=at("2025-06-01T12:00:00"))
    services.schedule_pause(schedule=schedule)
    assert services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-02T03:00:00")).reason == "paused or disabled"
    services.schedule_delete(schedule=ScheduledJob.objects.get(pk=schedule.pk))
    assert "no such schedule" in services.schedule_fire(schedule_id=schedule.pk).reason
    assert not services.schedule_fire(schedule_id="nonsense").fired
    assert not Job.objects.exists()


def test_a_refused_job_is_recorded_and_the_tick_is_spent(owner: Any) -> None:
    schedule = daily(owner, now=at("2025-06-01T12:00:00"))
    ScheduledJob.objects.filter(pk=schedule.pk).update(job_type="gone.type")  # its handler was removed
    result = services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-02T03:00:00"))
    assert result.outcome == FireOutcome.FAILED and "unknown job type 'gone.type'" in result.reason
    schedule.refresh_from_db()
    assert schedule.next_run_at == at("2025-06-03T03:00:00") and schedule.last_outcome == "failed"


def test_a_deactivated_owners_schedule_creates_nothing(owner: Any) -> None:
    schedule = daily(owner, now=at("2025-06-01T12:00:00"))
    owner.is_active = False
    owner.save()
    result = services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-02T03:00:00"))
    assert result.outcome == FireOutcome.FAILED and f"its owner, user {owner.pk}, is deactivated" in result.reason
    assert not Job.objects.exists()


def test_the_owners_quota_applies_to_scheduled_jobs(owner: Any) -> None:
    schedule = services.schedule_create(owner=owner, name="hourly", job_type="demo.sleep", frequency="cron",
                                        cron="0 * * * *", overlap="allow", now=at("2025-06-01T00:30:00"))
    with override_settings(JOBS_QUOTA_PER_MINUTE=1):
        assert services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-01T01:00:00")).outcome == "created"
        refused = services.schedule_fire(schedule_id=schedule.pk, now=at("2025-06-01T02:00:00"))
    assert refused.outcome == FireOutcome.FAILED and "quota exceeded" in refused.reason
    assert Job.objects.count() == 1


def test_the_overdue_check_fires_a_tick_beat_never_sent(owner: Any) -> None:
    schedule = daily(owner, now=timezone.now() - timedelta(days=2))
    assert schedule.next_run_at is not None and schedule.next_run_at < timezone.now()
    assert services.schedules_fire_overdue() == 1
    assert Job.objects.filter(created_by=owner).count() == 1
    assert services.schedules_fire_overdue() == 0


# --- run now ----------------------------------------------------------------------------------


def test_run_now_starts_a_job_and_leaves_the_timetable(owner: Any) -> None:
    schedule = daily(owner)
    next_run = schedule.next_run_at
    result = services.schedule_run_now(schedule=schedule)
    job = result.job
    assert result.outcome == "created" and job is not None
    assert job.created_by == owner
    assert job.dedup_key is not None and job.dedup_key.startswith(schedule.job_key_prefix() + "now:")
    schedule.refresh_from_db()
    assert schedule.next_run_at == next_run and schedule.last_job == job
    with pytest.raises(ScheduleConflict, match=f"job {job.pk} of its previous run is still queued"):
        services.schedule_run_now(schedule=schedule)


def test_run_now_of_a_system_job_schedule_sends_it() -> None:
    services.schedules_sync()
    with jobs_recorded() as sent:
        result = services.schedule_run_now(schedule=ScheduledJob.objects.get(name="jobs:cleanup"))
    assert result.outcome == "sent" and [r.job_type for r in sent] == ["jobs:cleanup"]


# --- selectors ---------------------------------------------------------------------------------


def test_who_sees_which_schedule(owner: Any) -> None:
    services.schedules_sync()
    org = make_org()
    make_membership(owner, org)
    colleague, admin, stranger = make_user(), make_user(), make_user()
    make_membership(colleague, org)
    make_membership(admin, org, role=Membership.Role.ADMIN)
    staff = make_user(is_staff=True)
    private = daily(owner, name="private")
    shared = daily(owner, name="shared", organization=org)

    def visible(user: Any) -> set[str]:
        return set(selectors.schedules_visible_to(user=user).values_list("name", flat=True))

    assert visible(owner) == {"private", "shared"}
    assert visible(colleague) == {"shared"}
    assert visible(stranger) == set()
    assert {"private", "shared", "jobs:cleanup"} <= visible(staff)
    with pytest.raises(ScheduleNotFound):
        selectors.schedule_get(schedule_id=private.pk, user=colleague)  # 404, not 403
    assert selectors.schedule_can_manage(user=owner, schedule=shared)
    assert selectors.schedule_can_manage(user=admin, schedule=shared)
    assert not selectors.schedule_can_manage(user=colleague, schedule=shared)
    assert not selectors.schedule_can_manage(user=owner, schedule=ScheduledJob.objects.get(name="jobs:cleanup"))
    with pytest.raises(ScheduleValidationError):
        selectors.schedule_get(schedule_id="abc")


def test_schedules_follow_the_jobs_access_policy(owner: Any) -> None:
    """One policy for jobs and schedules: who sees and who manages a user schedule is what
    `jobs.selectors` answers for a row with the same owner and organization."""
    org = make_org()
    make_membership(owner, org)
    member, admin, stranger = make_user(), make_user(), make_user()
    make_membership(member, org)
    make_membership(admin, org, role=Membership.Role.ADMIN)
    people = [owner, member, admin, stranger, make_user(is_staff=True), AnonymousUser()]
    for schedule in (daily(owner, name="private"), daily(owner, name="shared", organization=org)):
        for user in people:
            row = {"user": user, "owner_id": schedule.owner_id, "organization_id": schedule.organization_id}
            seen = selectors.schedules_visible_to(user=user).filter(pk=schedule.pk).exists()
            assert seen == may_see(**row), (schedule.name, user)
            assert selectors.schedule_can_manage(user=user, schedule=schedule) == may_act(**row), (schedule.name, user)


def test_the_next_five_runs(owner: Any) -> None:
    schedule = daily(owner, timezone_name="Europe/Paris", now=at("2025-03-28T12:00:00"))
    runs = selectors.schedule_upcoming(schedule=schedule, after=at("2025-03-28T12:00:00"))
    assert runs == [at("2025-03-29T02:00:00"), at("2025-03-30T01:00:00"), at("2025-03-31T01:00:00"),
                    at("2025-04-01T01:00:00"), at("2025-04-02T01:00:00")]  # 03:00 Paris, CET then CEST
    services.schedule_pause(schedule=schedule)
    assert selectors.schedule_upcoming(schedule=ScheduledJob.objects.get(pk=schedule.pk)) == []


def test_a_schedules_jobs_are_found_by_their_key(owner: Any) -> None:
    schedule = daily(owner, overlap="allow")
    made = services.schedule_run_now(schedule=schedule).job
    make_job(type="demo.sleep", dedup_key="schedule:999:x")
    assert list(selectors.schedule_jobs(schedule=schedule)) == [made]


def test_the_api_names_map_onto_the_services_keywords(owner: Any) -> None:
    body: dict[str, Any] = {
        "name": "weekly digest", "jobType": "demo.sleep", "frequency": "weekly", "timeOfDay": "07:30",
        "weekday": "monday", "timezone": "Europe/Paris", "catchUp": "skip", "input": {"seconds": 0}}
    schedule = services.schedule_create(owner=owner, **{WRITABLE_FIELDS[key]: value for key, value in body.items()})
    shown = schedule_to_dict(schedule)
    assert {key: shown[key] for key in ("name", "jobType", "frequency", "timeOfDay", "timezone", "catchUp")} == {
        "name": "weekly digest", "jobType": "demo.sleep", "frequency": "weekly", "timeOfDay": "07:30",
        "timezone": "Europe/Paris", "catchUp": "skip"}
    assert shown["weekday"] == 0 and shown["cron"] == "30 7 * * 1"
    change: dict[str, Any] = {WRITABLE_FIELDS["timezone"]: "UTC"}
    updated = services.schedule_update(schedule=schedule, **change)
    assert updated.timezone == "UTC"
    # every field a validation error names is one the API accepts (or the path's id)
    for changes in ({"time_of_day": "9"}, {"cron": "x"}, {"interval_seconds": 1}, {"day_of_month": 40}):
        with pytest.raises(ScheduleValidationError) as refused:
            services.schedule_update(schedule=updated, **changes)
        assert refused.value.field in WRITABLE_FIELDS
