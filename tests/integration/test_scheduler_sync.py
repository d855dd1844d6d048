"""The sync of the code's system schedules into django-celery-beat: idempotent, removes what
left the list, never touches a user's schedule or a PeriodicTask it does not own; the handler
families' crontabs; the core's intervals from the settings; the system check."""
from __future__ import annotations

import dataclasses
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

from scheduler import checks, services, system
from scheduler.errors import ScheduleConfigurationError
from scheduler.models import ScheduledJob, ScheduleKind
from scheduler.system import SYSTEM_SCHEDULES, SystemSchedule
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def every_system_schedule_on():
    # the test environment switches the handler families' schedules off for other tests' beats
    # (tests/settings.py)
    with override_settings(JOBS_SCHEDULES_DISABLED=[]):
        yield


def beat_rows() -> dict[str, dict[str, Any]]:
    """Every PeriodicTask as plain values, schedule included."""
    rows = {}
    for task in PeriodicTask.objects.select_related("crontab", "interval").order_by("name"):
        rows[task.name] = {
            "task": task.task, "kwargs": task.kwargs, "enabled": task.enabled, "queue": task.queue,
            "expire_seconds": task.expire_seconds, "date_changed": task.date_changed,
            "crontab": str(task.crontab) if task.crontab else None,
            "interval": (task.interval.every, task.interval.period) if task.interval else None,
        }
    return rows


def crontab_of(name: str) -> CrontabSchedule:
    return PeriodicTask.objects.select_related("crontab").get(name=name).crontab


def test_the_first_sync_creates_every_system_schedule_and_the_second_changes_nothing() -> None:
    first = services.schedules_sync()
    assert sorted(first.created) == sorted(s.name for s in SYSTEM_SCHEDULES)
    assert set(beat_rows()) == {s.name for s in SYSTEM_SCHEDULES}
    rows = beat_rows()
    schedules = list(ScheduledJob.objects.order_by("pk").values())
    last_change = PeriodicTasks.last_change()

    second = services.schedules_sync()
    assert not second.changed
    assert sorted(second.unchanged) == sorted(s.name for s in SYSTEM_SCHEDULES)
    assert beat_rows() == rows  # date_changed included: nothing was saved
    assert list(ScheduledJob.objects.order_by("pk").values()) == schedules
    assert PeriodicTasks.last_change() == last_change  # a running beat is not told of a change


def test_the_handler_families_schedules_have_their_crontabs() -> None:
    services.schedules_sync()
    hourly = ("0", "*", "*", "*", "*")
    for name, fields in {
        "sync-updated-dossiers": hourly,  # the dossier pipeline: every hour
        "process-attachments-maintenance": ("0", "3", "*", "*", "*"),  # the dossier pipeline: 03:00
        "consolidate-dossiers-maintenance": ("0", "4", "*", "*", "*"),  # the dossier pipeline: 04:00
        "storage:cleanup": hourly,  # temporary files: every hour
    }.items():
        cron = crontab_of(name)
        assert (cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week) == fields, name
        assert str(cron.timezone) == "UTC"  # the project's TIME_ZONE
        task = PeriodicTask.objects.get(name=name)
        schedule = ScheduledJob.objects.get(kind=ScheduleKind.SYSTEM, name=name)
        assert task.task == "scheduler.fire_schedule" and json.loads(task.kwargs) == {"schedule_id": schedule.pk}
        assert task.queue == "system" and task.enabled
        assert schedule.job_type == name and schedule.periodic_task_id == task.pk


def test_the_rescuer_and_the_sweeper_run_at_their_configured_intervals() -> None:
    services.schedules_sync()
    for name, task_name in (("jobs:rescue-stale", "jobs.rescue_stale_jobs"),
                            ("jobs:sweep-unclaimed", "jobs.sweep_unclaimed_jobs")):
        task = PeriodicTask.objects.select_related("interval").get(name=name)
        assert task.task == task_name and task.crontab is None
        # the test environment sets JOBS_RESCUE_INTERVAL and JOBS_SWEEP_INTERVAL to 1 s
        assert (task.interval.every, task.interval.period) == (1, IntervalSchedule.SECONDS)
        assert task.expire_seconds == 1 and task.queue == "system" and json.loads(task.kwargs) == {}


def test_a_fractional_interval_is_stored_in_microseconds() -> None:
    half = [dataclasses.replace(s, every=0.5) if s.name == "jobs:rescue-stale" else s for s in SYSTEM_SCHEDULES]
    services.schedules_sync(definitions=half)
    task = PeriodicTask.objects.select_related("interval").get(name="jobs:rescue-stale")
    assert (task.interval.every, task.interval.period) == (500_000, IntervalSchedule.MICROSECONDS)
    assert task.interval.schedule.run_every.total_seconds() == 0.5
    assert not services.schedules_sync(definitions=half).changed


def test_removing_a_schedule_from_the_list_removes_it_from_beat() -> None:
    services.schedules_sync()
    before = PeriodicTasks.last_change()
    shorter = [s for s in SYSTEM_SCHEDULES if s.name != "storage:cleanup"]
    report = services.schedules_sync(definitions=shorter)
    assert report.removed == ["storage:cleanup"]
    assert not PeriodicTask.objects.filter(name="storage:cleanup").exists()
    assert not ScheduledJob.objects.filter(name="storage:cleanup").exists()
    assert PeriodicTasks.last_change() > before  # a running beat re-reads its table


def test_a_changed_definition_is_updated_in_place() -> None:
    services.schedules_sync()
    schedule = ScheduledJob.objects.get(name="sync-updated-dossiers")
    task_id = schedule.periodic_task_id
    changed = [dataclasses.replace(s, cron="30 */2 * * *") if s.name == "sync-updated-dossiers" else s
               for s in SYSTEM_SCHEDULES]
    report = services.schedules_sync(definitions=changed)
    assert list(report.updated) == ["sync-updated-dossiers"]
    assert {"cron", "next_run_at", "beat.when"} <= set(report.updated["sync-updated-dossiers"])
    schedule.refresh_from_db()
    assert schedule.periodic_task_id == task_id
    assert schedule.next_run_at is not None and schedule.next_run_at.minute == 30
    cron = crontab_of("sync-updated-dossiers")
    assert (cron.minute, cron.hour) == ("30", "*/2")


def test_a_schedule_disabled_in_code_or_by_setting_is_disabled_in_beat() -> None:
    off = [dataclasses.replace(s, enabled=False) if s.name == "jobs:cleanup" else s for s in SYSTEM_SCHEDULES]
    services.schedules_sync(definitions=off)
    assert not PeriodicTask.objects.get(name="jobs:cleanup").enabled
    assert ScheduledJob.objects.get(name="jobs:cleanup").next_run_at is None
    with override_settings(JOBS_SCHEDULES_DISABLED=["storage:cleanup"]):
        services.schedules_sync()
    assert PeriodicTask.objects.get(name="jobs:cleanup").enabled
    assert not PeriodicTask.objects.get(name="storage:cleanup").enabled


def test_the_sync_never_touches_a_users_schedule_or_a_periodic_task_it_does_not_own() -> None:
    owner = make_user()
    mine = services.schedule_create(owner=owner, name="sync-updated-dossiers", job_type="demo.sleep",
                                    frequency="daily", time_of_day="05:00")
    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="someone's own task", task="jobs.rescue_stale_jobs", interval=every_minute)
    user_rows = dict(beat_rows())
    user_schedule = ScheduledJob.objects.filter(pk=mine.pk).values().get()

    services.schedules_sync()
    services.schedules_sync(definitions=[])  # every system schedule removed
    assert ScheduledJob.objects.filter(kind=ScheduleKind.SYSTEM).count() == 0
    assert beat_rows() == user_rows
    assert ScheduledJob.objects.filter(pk=mine.pk).values().get() == user_schedule


def test_a_periodic_task_of_the_former_beat_schedule_setting_is_adopted_by_name() -> None:
    every = IntervalSchedule.objects.create(every=15, period=IntervalSchedule.SECONDS)
    legacy = PeriodicTask.objects.create(name="jobs:rescue-stale", task="jobs.rescue_stale_jobs", interval=every,
                                         queue="system", expire_seconds=15)
    services.schedules_sync()
    task = PeriodicTask.objects.select_related("interval").get(name="jobs:rescue-stale")
    assert task.pk == legacy.pk and task.interval.every == 1
    assert ScheduledJob.objects.get(name="jobs:rescue-stale").periodic_task_id == legacy.pk


def test_a_dry_run_reports_and_writes_nothing() -> None:
    report = services.schedules_sync(dry_run=True)
    assert report.dry_run and len(report.created) == len(SYSTEM_SCHEDULES)
    assert not PeriodicTask.objects.exists() and not ScheduledJob.objects.exists()
    assert PeriodicTasks.last_change() is None


def test_a_paused_system_schedule_stays_paused_across_syncs() -> None:
    services.schedules_sync()
    services.schedule_pause(schedule=ScheduledJob.objects.get(name="jobs:cleanup"))
    assert not services.schedules_sync().changed
    assert ScheduledJob.objects.get(name="jobs:cleanup").paused
    assert not PeriodicTask.objects.get(name="jobs:cleanup").enabled
    services.schedule_resume(schedule=ScheduledJob.objects.get(name="jobs:cleanup"))
    assert PeriodicTask.objects.get(name="jobs:cleanup").enabled


def test_the_project_time_zone_is_the_system_schedules_zone() -> None:
    services.schedules_sync()
    with override_settings(TIME_ZONE="Europe/Paris"):
        report = services.schedules_sync()
        assert "process-attachments-maintenance" in report.updated
        assert str(crontab_of("process-attachments-maintenance").timezone) == "Europe/Paris"
        schedule = ScheduledJob.objects.get(name="process-attachments-maintenance")
        assert schedule.timezone == "Europe/Paris"
        assert schedule.next_run_at is not None
        assert schedule.next_run_at.astimezone(ZoneInfo("Europe/Paris")).hour == 3
        # an interval has no zone: the rescuer did not change
        assert "jobs:rescue-stale" not in report.updated


# --- a bad list ------------------------------------------------------------------------------


BAD = [
    (SystemSchedule(name="bad-cron", job_type="sync-updated-dossiers", cron="0 25 * * *"),
     "system schedule 'bad-cron': cron '0 25 * * *': the hour field '25' is invalid"),
    (SystemSchedule(name="bad-type", job_type="no.such.type", cron="0 * * * *"),
     "system schedule 'bad-type': unknown job type 'no.such.type'; registered types:"),
    (SystemSchedule(name="bad-task", task="no.such.task", every=10, overlap="allow"),
     "system schedule 'bad-task': unknown Celery task 'no.such.task'"),
    (SystemSchedule(name="both", job_type="sync-updated-dossiers", cron="0 * * * *", every=5),
     "system schedule 'both': give exactly one of cron (an expression) or every (seconds)"),
    (SystemSchedule(name="bad-zone", job_type="sync-updated-dossiers", cron="0 * * * *", timezone="Mars/Base"),
     "system schedule 'bad-zone': timezone 'Mars/Base' is not a known time zone"),
    (SystemSchedule(name="skip-system-job", job_type="storage:cleanup", cron="0 * * * *"),
     "'storage:cleanup' is an untracked job (no Job row), so the overlap policy 'skip' cannot see its previous run"),
    (SystemSchedule(name="bad-input", job_type="process-attachment", cron="0 * * * *"),
     "system schedule 'bad-input': input does not fit the schema of 'process-attachment': "
     "input.attachment_id: Field required"),
]


@pytest.mark.parametrize(("schedule", "message"), BAD, ids=[s.name for s, _ in BAD])
def test_the_system_check_refuses_a_bad_schedule_naming_it(schedule: SystemSchedule, message: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system, "SYSTEM_SCHEDULES", [*SYSTEM_SCHEDULES, schedule])
    errors = checks.check_system_schedules()
    assert len(errors) == 1 and errors[0].id == "conveyor.E101"
    assert message in errors[0].msg
    with pytest.raises(ScheduleConfigurationError) as refused:
        services.schedules_sync()
    assert message in str(refused.value)
    assert not PeriodicTask.objects.exists()  # nothing was changed


def test_a_name_declared_twice_is_refused() -> None:
    assert system.validate_all([SYSTEM_SCHEDULES[0], SYSTEM_SCHEDULES[0]]) == [
        f"system schedule {SYSTEM_SCHEDULES[0].name!r} is declared twice"]


def test_the_code_list_passes_the_check_and_manage_check_runs_it() -> None:
    assert checks.check_system_schedules() == []
    call_command("check", "--fail-level", "ERROR")
