"""Names the module split replaced stay importable under their older spelling, so that code
written against them keeps working; none of these needs a database."""
from __future__ import annotations

import re
from datetime import UTC, datetime

from handlers import context
from jobs import models, selectors, services, tasks
from jobs.publishing import task_names
from jobs.states import AttemptOutcome
from scheduler import services as schedule_services
from scheduler.models import Frequency, ScheduledJob

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_older_names_are_the_new_objects() -> None:
    assert services.Outcome is AttemptOutcome
    assert context.JobChannel is context.JobLink
    assert services.system_job_send is services.untracked_job_send


def _shown(q: object) -> str:
    # a subquery shows its object's address, which differs between two equal ones
    return re.sub(r" at 0x[0-9a-f]+", "", str(q))


def test_the_older_predicates_build_the_queryset_states() -> None:
    assert selectors.stale_heartbeat_q(now=NOW) == models.stale_q(NOW)
    assert _shown(selectors.unclaimed_q(now=NOW)) == _shown(models.unclaimed_q(NOW))


def test_schedule_timetable_is_the_schedule_s_own() -> None:
    schedule = ScheduledJob(frequency=Frequency.INTERVAL, interval_seconds=90)
    assert schedule_services.schedule_timetable(schedule=schedule) == schedule.timetable()


def test_the_untracked_job_task_keeps_its_name() -> None:
    # the name is stored in beat schedules and in messages already in Redis
    assert tasks.run_untracked_job.name == task_names.RUN_UNTRACKED_JOB == "jobs.run_system_job"
