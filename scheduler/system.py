"""The system schedules: a plain list in code, synced by name into django-celery-beat.

`manage.py sync_schedules` (and every beat at start-up) makes the database match this list:
new names are added, changed ones updated, names that left the list removed; a user's
schedule is never touched. `manage.py check` refuses a schedule with a bad cron expression, an
unknown job type or task, naming it.

How a tick fires depends on what it starts:
  * job_type of a tracked handler (the dossier pipeline's maintenance): `jobs.services.job_create`,
    with the dedup key `system:<name>:<scheduled time>`; a Job row anyone can follow in the admin;
  * job_type of an untracked handler (`tracked=False`, such as storage:cleanup): `untracked_job_send`,
    no Job row; the tick is still claimed once in the schedule's row, so it runs once per tick;
  * task (the core's rescuer and sweeper): beat sends the Celery task itself, every `every`
    seconds, expiring after one interval; they are idempotent and cheap, so two beats sending
    them twice is harmless.

Intervals come from the settings (JOBS_RESCUE_INTERVAL...), read when this module is imported,
that is at process start, as every other setting.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import import_module, util
from typing import Any

from django.apps import apps
from django.conf import settings

from config.celery import app
from handlers.registry import get_handler, registered_types
from jobs.conf import conf
from jobs.validation import input_schema_problem
from scheduler.models import CatchUp, Overlap
from scheduler.timetable import Timetable, TimetableError, parse_cron, parse_timezone

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")


@dataclass(frozen=True)
class SystemSchedule:
    """One system schedule. Give a job_type or a task, and a cron expression or an interval."""

    name: str
    job_type: str = ""
    task: str = ""
    cron: str = ""  # five fields, in `timezone` (default: settings.TIME_ZONE)
    every: float | None = None  # or: seconds between runs
    input: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    overlap: str = Overlap.SKIP  # tracked jobs only: an untracked job or a task has no run to wait for
    catch_up: str = CatchUp.RUN_ONCE
    timezone: str = ""  # "" : settings.TIME_ZONE
    description: str = ""

    @property
    def zone_name(self) -> str:
        return self.timezone or settings.TIME_ZONE


SYSTEM_SCHEDULES: list[SystemSchedule] = [
    # --- the core (jobs app) ---------------------------------------------------------------
    SystemSchedule(
        name="jobs:rescue-stale",
        task="jobs.rescue_stale_jobs",
        every=conf.rescue_interval,
        overlap=Overlap.ALLOW,
        description="Requeue running jobs whose worker stopped heartbeating.",
    ),
    SystemSchedule(
        name="jobs:sweep-unclaimed",
        task="jobs.sweep_unclaimed_jobs",
        every=conf.sweep_interval,
        overlap=Overlap.ALLOW,
        description="Publish queued jobs that no message will deliver; expire overdue ones.",
    ),
    SystemSchedule(
        name="jobs:cleanup",
        job_type="jobs:cleanup",
        cron="15 * * * *",
        overlap=Overlap.ALLOW,
        description="Delete completed jobs after JOBS_KEEP_COMPLETED_DAYS, failed ones after "
        "JOBS_KEEP_FAILED_DAYS, and their django-celery-results rows.",
    ),
    # --- the scheduler's own safety net ------------------------------------------------------
    SystemSchedule(
        name="scheduler:fire-overdue",
        task="scheduler.fire_overdue_schedules",
        every=conf.schedule_check_interval,
        overlap=Overlap.ALLOW,
        description="Fire schedules whose tick passed without beat's message (lost message, beat "
        "down, a crontab beat skipped): once, by the catch-up policy.",
    ),
    # --- the operators' console (console/rollup.py) ------------------------------------------
    SystemSchedule(
        name="console:rollup-minutes",
        task="console.rollup_minutes",
        every=15,
        overlap=Overlap.ALLOW,
        description="Count the jobs created and finished in the last minutes into the console's time buckets.",
    ),
    # --- temporary files ---------------------------------------------------------------------
    SystemSchedule(
        name="storage:cleanup",
        job_type="storage:cleanup",
        cron="0 * * * *",
        overlap=Overlap.ALLOW,
        description="Delete expired temporary files under STORAGE_TEMP_DIR (hourly).",
    ),
    # --- failure notifications (notifications/deliveries.py) -----------------------------------
    SystemSchedule(
        name="notifications:evaluate",
        job_type="notifications:evaluate",
        every=settings.NOTIFICATIONS_EVALUATION_INTERVAL,
        overlap=Overlap.ALLOW,
        description="Check the notification conditions (backlog, no consumer, failure rate, missed schedules), "
        "send the digests whose throttle window reopened, prune old deliveries.",
    ),
    # --- the dossier pipeline (handlers/dossiers.py) ---------------------------------------------
    SystemSchedule(
        name="sync-updated-dossiers",
        job_type="sync-updated-dossiers",
        cron="0 * * * *",
        description="Fetch the dossiers changed since the last sync (hourly).",
    ),
    SystemSchedule(
        name="process-attachments-maintenance",
        job_type="process-attachments-maintenance",
        cron="0 3 * * *",
        description="Reprocess attachments left in error or warning (daily, 03:00).",
    ),
    SystemSchedule(
        name="consolidate-dossiers-maintenance",
        job_type="consolidate-dossiers-maintenance",
        cron="0 4 * * *",
        description="Reconsolidate the dossiers marked for it (daily, 04:00).",
    ),
]


def validate(schedule: SystemSchedule) -> list[str]:
    """Every problem with one system schedule, each naming it and the bad value."""
    where = f"system schedule {schedule.name!r}"
    problems: list[str] = []
    if not isinstance(schedule.name, str) or not _NAME.match(schedule.name) or schedule.name.startswith(
            "user-schedule:"):
        problems.append(f"{where}: a name is 1-100 letters, digits and _ . : - (not starting with "
                        "'user-schedule:', which names users' schedules in beat)")
    if bool(schedule.job_type) == bool(schedule.task):
        problems.append(f"{where}: give exactly one of job_type (a handler) or task (a Celery task)")
    if schedule.job_type:
        spec = get_handler(schedule.job_type)
        if spec is None:
            known = ", ".join(registered_types()) or "none"
            problems.append(f"{where}: unknown job type {schedule.job_type!r}; registered types: {known}")
        else:
            if not spec.tracked and schedule.overlap == Overlap.SKIP:
                problems.append(f"{where}: {schedule.job_type!r} is an untracked job (no Job row), so the overlap "
                                "policy 'skip' cannot see its previous run; use Overlap.ALLOW")
            problem = input_schema_problem(spec, schedule.input) if isinstance(schedule.input, dict) else None
            if problem is not None:
                problems.append(f"{where}: input does not fit the schema of {schedule.job_type!r}: {problem}")
    if schedule.task:
        if not _task_exists(schedule.task):
            problems.append(f"{where}: unknown Celery task {schedule.task!r}")
        if schedule.overlap == Overlap.SKIP:
            problems.append(f"{where}: a task schedule has no Job row to wait for; use Overlap.ALLOW")
        if schedule.input:
            problems.append(f"{where}: a task schedule sends its task without arguments; input must be empty")
    if bool(schedule.cron) == (schedule.every is not None):
        problems.append(f"{where}: give exactly one of cron (an expression) or every (seconds)")
    try:
        parse_timezone(schedule.zone_name)
    except TimetableError as exc:
        problems.append(f"{where}: timezone {exc}")
    if schedule.cron:
        try:
            parse_cron(schedule.cron)
        except TimetableError as exc:
            problems.append(f"{where}: cron {exc}")
    if schedule.every is not None:
        try:
            Timetable.for_interval(schedule.every)
        except TimetableError as exc:
            problems.append(f"{where}: every: {exc}")
    if schedule.overlap not in Overlap.values:
        problems.append(f"{where}: overlap={schedule.overlap!r} must be one of {', '.join(Overlap.values)}")
    if schedule.catch_up not in CatchUp.values:
        problems.append(f"{where}: catch_up={schedule.catch_up!r} must be one of {', '.join(CatchUp.values)}")
    if not isinstance(schedule.input, dict):
        problems.append(f"{where}: input must be a dict, got {type(schedule.input).__name__}")
    return problems


def _task_exists(name: str) -> bool:
    """Is `name` a registered Celery task? The apps' tasks modules are imported as Celery's
    autodiscovery would (not through the loader: its Django fix-up runs the system checks,
    and this runs inside one)."""
    for config in apps.get_app_configs():
        module = f"{config.name}.tasks"
        if util.find_spec(module) is not None:
            import_module(module)
    return name in app.tasks


def validate_all(schedules: list[SystemSchedule]) -> list[str]:
    """Every problem in the list, duplicated names included."""
    problems: list[str] = []
    seen: set[str] = set()
    for schedule in schedules:
        if schedule.name in seen:
            problems.append(f"system schedule {schedule.name!r} is declared twice")
        seen.add(schedule.name)
        problems.extend(validate(schedule))
    return problems
