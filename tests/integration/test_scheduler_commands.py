"""`manage.py sync_schedules [--dry-run]` and `manage.py schedules list|run|pause|resume`."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError
from django.test import override_settings
from django_celery_beat.models import PeriodicTask

from jobs.models import Job
from jobs.testing import jobs_recorded
from scheduler import services, system
from scheduler.models import ScheduledJob
from scheduler.system import SystemSchedule
from tests.factories import make_user
from tests.processes import BASE_DIR, child_environment


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture(autouse=True)
def quiet_quotas_and_every_system_schedule_on():
    with override_settings(JOBS_QUOTA_PER_MINUTE=0, JOBS_QUOTA_PER_HOUR=0, JOBS_QUOTA_PER_DAY=0,
                           JOBS_SCHEDULES_DISABLED=[]):
        yield


@pytest.fixture
def user_schedule(db: None) -> ScheduledJob:
    return services.schedule_create(owner=make_user("alice"), name="nightly export", job_type="demo.sleep",
                                    frequency="daily", time_of_day="02:30", timezone_name="Europe/Paris",
                                    input={"seconds": 0})


# --- sync_schedules -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sync_schedules_dry_run_then_for_real_then_nothing_to_change() -> None:
    dry = run("sync_schedules", "--dry-run")
    assert "Would create jobs:cleanup" in dry and "Dry run, nothing was written" in dry
    assert not PeriodicTask.objects.exists()
    real = run("sync_schedules")
    assert "Created sync-updated-dossiers" in real and f"{len(system.SYSTEM_SCHEDULES)} created" in real
    assert "Nothing to change: 0 created, 0 updated, 0 removed" in run("sync_schedules")
    data = json.loads(run("sync_schedules", "--json"))
    assert data["created"] == [] and data["dryRun"] is False and len(data["unchanged"]) == len(system.SYSTEM_SCHEDULES)


@pytest.mark.django_db
def test_sync_schedules_refuses_an_invalid_list_listing_every_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system, "SYSTEM_SCHEDULES", [
        *system.SYSTEM_SCHEDULES,
        SystemSchedule(name="typo", job_type="sync-updated-dosiers", cron="0 * * * *"),
        SystemSchedule(name="bad-cron", job_type="sync-updated-dossiers", cron="0 3 * * 9"),
    ])
    with pytest.raises(CommandError) as refused:
        run("sync_schedules")
    text = str(refused.value)
    assert "nothing was changed" in text
    assert "system schedule 'typo': unknown job type 'sync-updated-dosiers'" in text
    assert "system schedule 'bad-cron': cron '0 3 * * 9': the day of week field '9' is invalid" in text
    assert not PeriodicTask.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_core_intervals_follow_the_environment() -> None:
    """JOBS_RESCUE_INTERVAL and JOBS_SWEEP_INTERVAL, read at start-up, reach beat's table."""
    env = child_environment(JOBS_RESCUE_INTERVAL="0.5", JOBS_SWEEP_INTERVAL="20")
    done = subprocess.run([sys.executable, "manage.py", "sync_schedules", "--json"], cwd=BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rescue = PeriodicTask.objects.select_related("interval").get(name="jobs:rescue-stale")
    sweep = PeriodicTask.objects.select_related("interval").get(name="jobs:sweep-unclaimed")
    assert (rescue.interval.every, rescue.interval.period, rescue.expire_seconds) == (500_000, "microseconds", 1)
    assert (sweep.interval.every, sweep.interval.period, sweep.expire_seconds) == (20, "seconds", 20)


# --- schedules ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_shows_both_kinds_as_a_table_and_as_json(user_schedule: ScheduledJob) -> None:
    run("sync_schedules")
    table = run("schedules", "list")
    header = table.splitlines()[0].split()
    assert header[:4] == ["ID", "KIND", "NAME", "STARTS"]
    assert "process-attachments-maintenance" in table and "cron 0 3 * * * UTC" in table
    assert "nightly export" in table and "daily 02:30 Europe/Paris" in table and "every 1s" in table
    users = run("schedules", "list", "--kind", "user")
    assert "nightly export" in users and "jobs:cleanup" not in users
    data = json.loads(run("schedules", "list", "--json", "--kind", "user"))["schedules"]
    assert len(data) == 1 and data[0]["name"] == "nightly export" and data[0]["timeOfDay"] == "02:30"
    assert len(data[0]["nextRuns"]) == 5 and data[0]["ownerId"] == user_schedule.owner_id


@pytest.mark.django_db
def test_list_with_nothing_says_so() -> None:
    assert "No schedules." in run("schedules", "list")


@pytest.mark.django_db
def test_run_by_id_and_by_system_name(user_schedule: ScheduledJob) -> None:
    out = run("schedules", "run", str(user_schedule.pk))
    job = Job.objects.get()
    assert f"started job {job.pk}" in out and job.created_by == user_schedule.owner
    refused = pytest.raises(CommandError, run, "schedules", "run", str(user_schedule.pk))
    assert f"job {job.pk} of its previous run is still queued" in str(refused.value)
    run("sync_schedules")
    data = json.loads(run("schedules", "run", "consolidate-dossiers-maintenance", "--json"))
    assert data["outcome"] == "created" and Job.objects.get(pk=data["jobId"]).type == "consolidate-dossiers-maintenance"
    with jobs_recorded() as sent:
        assert "started task system_" in run("schedules", "run", "storage:cleanup")
    assert [r.job_type for r in sent] == ["storage:cleanup"]


@pytest.mark.django_db
def test_pause_and_resume(user_schedule: ScheduledJob) -> None:
    assert f"Paused schedule 'nightly export' ({user_schedule.pk})" in run("schedules", "pause", str(user_schedule.pk))
    assert not PeriodicTask.objects.get(pk=user_schedule.periodic_task_id).enabled
    out = run("schedules", "resume", str(user_schedule.pk))
    assert "Resumed schedule 'nightly export'" in out and "next run 20" in out
    assert PeriodicTask.objects.get(pk=user_schedule.periodic_task_id).enabled


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["run", "pause", "resume"])
def test_an_unknown_schedule_is_a_command_error(action: str) -> None:
    with pytest.raises(CommandError, match="schedule 'nope' .* does not exist"):
        run("schedules", action, "nope")


# Django's own options of every command, documented by Django
DJANGO_OPTIONS = ("verbosity", "settings", "pythonpath", "traceback", "no_color", "force_color", "skip_checks",
                  "version")


def test_every_argument_has_help() -> None:
    for name in ("schedules", "sync_schedules"):
        command = load_command_class(get_commands()[name], name)
        parser = command.create_parser("manage.py", name)
        assert command.help
        parsers: list[argparse.ArgumentParser] = [parser]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
                assert all(choice.help for choice in action._choices_actions)
        for sub in parsers:
            for action in sub._actions:
                if action.dest not in ("help", "action") and not action.dest.startswith(DJANGO_OPTIONS):
                    assert action.help, f"{name}: {action.dest} has no help"


def test_help_is_printed(capsys: pytest.CaptureFixture[str]) -> Any:
    with pytest.raises(SystemExit):
        call_command("schedules", "run", "--help")
    assert "A system schedule's name" in capsys.readouterr().out
