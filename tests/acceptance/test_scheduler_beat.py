"""Real beat and worker processes: beat syncs the system schedules when it starts, fires a
user's schedule into a Job the owner owns, two beats at once make one job per tick, a slow
scheduled job is not started twice, and beat refuses to start on an invalid list."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from jobs.models import Job
from scheduler import services
from scheduler.models import FireOutcome, ScheduledJob
from scheduler.system import SYSTEM_SCHEDULES
from tests.factories import make_user
from tests.processes import wait_for

pytestmark = pytest.mark.workers

# the owner is an ordinary user: scheduled jobs count against quotas, which these tests lift
NO_QUOTAS = {"JOBS_QUOTA_PER_MINUTE": "0", "JOBS_QUOTA_PER_HOUR": "0", "JOBS_QUOTA_PER_DAY": "0"}


def interval_schedule(owner: Any, seconds: float, **values: Any) -> ScheduledJob:
    with override_settings(JOBS_SCHEDULE_MIN_INTERVAL=1):
        return services.schedule_create(owner=owner, frequency="interval", interval_seconds=seconds, **values)


def sends(log: str, schedule: ScheduledJob) -> int:
    return log.count(f"Sending due task user-schedule:{schedule.pk} ")


def tick_of(job: Job) -> datetime:
    assert job.dedup_key is not None
    return datetime.fromisoformat(job.dedup_key.rsplit(":schedule:", 1)[1].split(":", 1)[1].replace("Z", "+00:00"))


def test_beat_syncs_the_system_schedules_and_fires_a_users_schedule(processes: Any, tmp_path: Path) -> None:
    processes.worker(env=NO_QUOTAS)
    beat = processes.beat()  # on a database where beat's tables are empty, as on a first deploy
    # what the sync created is sent at once, not after django-celery-beat's five-minute reload
    wait_for(lambda: "Sending due task jobs:rescue-stale " in beat.log(), timeout=10,
             message="beat to send the rescuer")
    assert f"system schedules synced at beat start: {len(SYSTEM_SCHEDULES)} created" in beat.log()

    owner = make_user("alice")
    marks = tmp_path / "runs.txt"
    schedule = interval_schedule(owner, 2, name="every two seconds", job_type="test.count", overlap="allow",
                                 input={"path": str(marks)})  # made while beat runs
    wait_for(lambda: Job.objects.filter(created_by=owner, status="completed").count() >= 2, timeout=40,
             message="two scheduled jobs to complete")
    assert set(PeriodicTask.objects.values_list("name", flat=True)) >= {
        "jobs:rescue-stale", "jobs:sweep-unclaimed", "storage:cleanup", f"user-schedule:{schedule.pk}"}
    for job in Job.objects.filter(created_by=owner):
        assert job.type == "test.count"
        assert job.dedup_key is not None and job.dedup_key.startswith(schedule.job_key_prefix())
    assert len(marks.read_text().splitlines()) >= 2
    schedule.refresh_from_db()
    assert schedule.last_outcome == FireOutcome.CREATED and schedule.run_count >= 2
    assert schedule.next_run_at is not None
    assert schedule.next_run_at > timezone.now() - timedelta(seconds=3)


@pytest.mark.slow
def test_two_beats_for_a_minute_make_one_job_per_tick(processes: Any, tmp_path: Path) -> None:
    """Both beats send every tick of both schedules (their logs show it); each tick makes one
    job: consecutive ticks of the interval schedule are a whole interval apart, and the
    every-minute cron schedule has one job per minute boundary crossed."""
    owner = make_user("bob")
    marks = tmp_path / "runs.txt"
    every5 = interval_schedule(owner, 5, name="every five seconds", job_type="test.count", overlap="allow",
                               input={"path": str(marks)})
    minutely = services.schedule_create(owner=owner, name="every minute", job_type="test.count", frequency="cron",
                                        cron="* * * * *", overlap="allow", input={"path": str(marks)})
    processes.worker(env=NO_QUOTAS, concurrency=4)
    first, second = processes.beat(), processes.beat()
    started = timezone.now()
    time.sleep(60)
    first.kill_group()
    second.kill_group()
    stopped = timezone.now()
    time.sleep(3)  # the last messages are fired

    logs = first.log() + second.log()
    interval_jobs = sorted(Job.objects.filter(dedup_key__startswith=every5.job_key_prefix()), key=tick_of)
    ticks = [tick_of(job) for job in interval_jobs]
    assert len(set(ticks)) == len(ticks) == len({job.dedup_key for job in interval_jobs})
    assert all(b - a >= timedelta(seconds=5) for a, b in zip(ticks, ticks[1:])), ticks
    assert 10 <= len(ticks) <= 14, ticks  # about 60 / 5
    assert sends(first.log(), every5) >= 9 and sends(second.log(), every5) >= 9  # both beats asked
    assert sends(logs, every5) >= 1.6 * len(ticks)

    minute_jobs = list(Job.objects.filter(dedup_key__startswith=minutely.job_key_prefix()))
    # every minute boundary since the schedule was made (one may have passed while the
    # beats were starting: it is fired late, once, by the first beat up)
    created = minutely.created_at
    boundaries = {(created + timedelta(seconds=s)).replace(second=0, microsecond=0)
                  for s in range(int((stopped - created).total_seconds()) + 1)} - {
        created.replace(second=0, microsecond=0)}
    minute_ticks = sorted(tick_of(job) for job in minute_jobs)
    # a boundary in the last moment before the beats were killed may not have been sent yet
    required = {b for b in boundaries if b <= stopped - timedelta(seconds=2)}
    assert len(set(minute_ticks)) == len(minute_ticks)
    assert required <= set(minute_ticks) <= boundaries, (minute_ticks, boundaries)
    assert sends(logs, minutely) >= 2 * len(minute_ticks)  # one message per beat per minute
    assert all(job.created_by == owner for job in interval_jobs + minute_jobs)
    print(f"\ntwo beats, {(stopped - started).total_seconds():.0f}s: {sends(logs, every5)} messages -> "
          f"{len(ticks)} jobs every 5 s; {sends(logs, minutely)} messages -> {len(minute_ticks)} every-minute job(s)")


def test_overlap_skip_never_starts_a_slow_scheduled_job_twice(processes: Any, tmp_path: Path) -> None:
    owner = make_user("carol")
    marks = tmp_path / "marks.txt"
    # a 3-second job every second, on a worker that could run four at once
    schedule = interval_schedule(owner, 1, name="slow", job_type="test.limited4", overlap="skip",
                                 input={"path": str(marks), "seconds": 3})
    processes.worker(env=NO_QUOTAS, concurrency=4)
    processes.beat()
    wait_for(lambda: Job.objects.filter(created_by=owner, status="completed").count() >= 2, timeout=45,
             message="two runs to complete")
    skipped = ScheduledJob.objects.get(pk=schedule.pk)
    runs: dict[str, dict[str, float]] = {}
    for line in marks.read_text().splitlines():
        event, job_id, moment = line.split()
        runs.setdefault(job_id, {})[event] = float(moment)
    spans = sorted((run["start"], run.get("end", float("inf"))) for run in runs.values())
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:])), spans
    assert Job.objects.filter(created_by=owner, status="running").count() <= 1
    # the ticks in between were spent as skips, not queued for later
    assert skipped.last_outcome in (FireOutcome.SKIPPED_OVERLAP, FireOutcome.CREATED)
    assert Job.objects.filter(created_by=owner).count() <= len(spans) + 1
    worker_logs = "".join(p.log() for p in processes.processes)
    assert len(re.findall(r"skipped, job \S+ of the previous run is still (?:queued|running)", worker_logs)) >= 2


def test_beat_refuses_to_start_on_an_invalid_list_of_system_schedules(processes: Any) -> None:
    # without handlers.maintenance, storage:cleanup and jobs:cleanup name unknown job types
    beat = processes.beat(env={"JOBS_HANDLER_MODULES": "handlers.demo,handlers.dossiers,tests.handlers"})
    assert beat.wait(timeout=30) != 0
    log = beat.log()
    assert "beat refuses to start" in log and "system schedule 'storage:cleanup': unknown job type" in log
    assert not PeriodicTask.objects.exists()
