"""The names of the platform's Celery tasks, as publishers send them and `jobs.tasks` declares them.

A message carries only a task name; sending by name lets publishing reach the worker without
importing it. The names are stored in beat schedules and in messages already in Redis: they
never change. `jobs.run_system_job` runs an untracked job (one without a Job row); its name
predates that word.
"""
from __future__ import annotations

RUN_JOB = "jobs.run_job"
RUN_UNTRACKED_JOB = "jobs.run_system_job"
ADMIT_WAITING = "jobs.admit_waiting"
NOTE_DELIVERY = "jobs.note_delivery"
RESCUE_STALE_JOBS = "jobs.rescue_stale_jobs"
SWEEP_UNCLAIMED_JOBS = "jobs.sweep_unclaimed_jobs"
