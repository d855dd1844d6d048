"""Schedules: the system schedules declared in code (`scheduler.system`) and the users' own.

Both kinds are rows of `ScheduledJob`, each kept in step with one django-celery-beat
PeriodicTask (beat decides when to ask; the row decides which tick is due and records what
firing did). Only `scheduler.services` writes these rows; read through `scheduler.selectors`.

1. `next_run_at` is the earliest tick not fired yet. Firing claims a tick with one guarded
   UPDATE of that column (`WHERE next_run_at = <the tick>`): however many beats, retries or
   triggers ask, one of them wins and creates the tick's job.
2. `enabled` is the definition's switch (the code's for a system schedule, the owner's for a
   user schedule); `paused` is an operator's pause, which the sync of system schedules never
   undoes. A schedule fires when it is enabled and not paused.
"""
from __future__ import annotations

from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone

from scheduler.timetable import Timetable


class ScheduleKind(models.TextChoices):
    SYSTEM = "system", "System (declared in code)"
    USER = "user", "User"


class Frequency(models.TextChoices):
    DAILY = "daily", "Daily at a time"
    WEEKLY = "weekly", "Weekly on a day at a time"
    MONTHLY = "monthly", "Monthly on a day at a time"
    CRON = "cron", "Cron expression"
    INTERVAL = "interval", "Every N seconds"


class Overlap(models.TextChoices):
    SKIP = "skip", "Skip a tick while the previous run is queued or running"
    ALLOW = "allow", "Allow runs to overlap"


class CatchUp(models.TextChoices):
    RUN_ONCE = "run_once", "Run once for all the ticks missed"
    SKIP = "skip", "Skip missed ticks"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class FireOutcome(models.TextChoices):
    """What the last tick (or run-now) of a schedule did."""

    CREATED = "created", "Job created"
    SENT = "sent", "System job sent"
    DEDUPLICATED = "deduplicated", "A queued job already held the tick's key"
    SKIPPED_OVERLAP = "skipped_overlap", "Skipped: the previous run was still queued or running"
    SKIPPED_MISSED = "skipped_missed", "Skipped: the tick was missed and catch-up is off"
    FAILED = "failed", "Could not create the job"


class ScheduledJob(models.Model):
    """A schedule: when to start what, and what its last tick did.

    The name says "job" for history only: renaming the model would rename its table and its
    admin URLs (`/admin/scheduler/scheduledjob/`), which this project keeps stable. Read it as
    "Schedule"; the jobs a schedule starts are `jobs.Job` rows found by their dedup key.
    """

    kind = models.CharField(max_length=8, choices=ScheduleKind.choices, default=ScheduleKind.USER)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="scheduled_jobs"
    )
    organization = models.ForeignKey(
        "jobs.Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="scheduled_jobs"
    )
    # What a tick starts: a job of a registered type, or (system schedules of the core only,
    # such as the rescuer) a Celery task that beat sends as it is.
    job_type = models.CharField(max_length=100, blank=True, default="")
    task = models.CharField(max_length=200, blank=True, default="")
    input = models.JSONField(default=dict, blank=True)

    frequency = models.CharField(max_length=16, choices=Frequency.choices)
    cron = models.CharField(max_length=200, blank=True, default="", help_text="for frequency=cron")
    time_of_day = models.TimeField(null=True, blank=True, help_text="for daily, weekly and monthly")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, null=True, blank=True,
                                               help_text="for weekly: 0 = Monday ... 6 = Sunday")
    day_of_month = models.PositiveSmallIntegerField(null=True, blank=True, help_text="for monthly: 1-28")
    interval_seconds = models.FloatField(null=True, blank=True, help_text="for frequency=interval")
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Paris")

    enabled = models.BooleanField(default=True)
    paused = models.BooleanField(default=False)
    overlap = models.CharField(max_length=8, choices=Overlap.choices, default=Overlap.SKIP)
    catch_up = models.CharField(max_length=8, choices=CatchUp.choices, default=CatchUp.RUN_ONCE)

    next_run_at = models.DateTimeField(null=True, blank=True, help_text="the earliest tick not fired yet")
    last_run_at = models.DateTimeField(null=True, blank=True, help_text="the scheduled time of the last tick fired")
    last_fired_at = models.DateTimeField(null=True, blank=True, help_text="when the last tick or run-now fired")
    last_job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    last_outcome = models.CharField(max_length=16, choices=FireOutcome.choices, blank=True, default="")
    last_message = models.CharField(max_length=500, blank=True, default="")
    run_count = models.PositiveIntegerField(default=0)

    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=dj_timezone.now)
    updated_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["kind", "name", "pk"]
        indexes = [
            models.Index(fields=["owner", "name"], name="schedule_owner_name_idx"),
            models.Index(fields=["organization", "name"], name="schedule_org_name_idx"),
            # the overdue check reads only the schedules that may fire
            models.Index(fields=["next_run_at"], name="schedule_active_next_idx",
                         condition=Q(enabled=True, paused=False)),
        ]
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=Q(kind="system"), name="schedule_system_name_unique"),
            models.CheckConstraint(condition=Q(kind__in=ScheduleKind.values), name="schedule_kind_valid"),
            models.CheckConstraint(condition=Q(frequency__in=Frequency.values), name="schedule_frequency_valid"),
            models.CheckConstraint(condition=Q(kind="system") | Q(owner__isnull=False), name="schedule_user_has_owner"),
            models.CheckConstraint(condition=~Q(job_type="", task=""), name="schedule_starts_something"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} schedule {self.name!r} ({self.pk})"

    @property
    def is_system(self) -> bool:
        return self.kind == ScheduleKind.SYSTEM

    @property
    def is_active(self) -> bool:
        return self.enabled and not self.paused

    @property
    def fires_through_task(self) -> bool:
        """A core task (the rescuer...) that beat sends itself: no tick to claim, no job."""
        return bool(self.task)

    def cron_expression(self) -> str:
        """The five cron fields this schedule runs at ('' for an interval)."""
        if self.frequency == Frequency.CRON:
            return self.cron
        at = self.time_of_day or time(0, 0)
        if self.frequency == Frequency.DAILY:
            return f"{at.minute} {at.hour} * * *"
        if self.frequency == Frequency.WEEKLY:
            weekday = 0 if self.weekday is None else self.weekday
            return f"{at.minute} {at.hour} * * {(weekday + 1) % 7}"  # cron counts from Sunday
        if self.frequency == Frequency.MONTHLY:
            return f"{at.minute} {at.hour} {self.day_of_month or 1} * *"
        return ""

    def timetable(self) -> Timetable:
        """Its run times (a stored row was validated when written, so this does not raise)."""
        if self.frequency == Frequency.INTERVAL:
            return Timetable.for_interval(self.interval_seconds or 0)
        return Timetable.for_cron(self.cron_expression(), self.timezone)

    def job_key(self, suffix: str) -> str:
        """The dedup key this schedule gives the job services for one run (`suffix`: the tick)."""
        return f"system:{self.name}:{suffix}" if self.is_system else f"schedule:{self.pk}:{suffix}"

    def job_key_prefix(self) -> str:
        """What every job this schedule creates has at the start of its stored dedup key. A user
        schedule's jobs are made by `job_submit`, which scopes a requester's key to the job's
        organization or to the requester ("org-3:<key>", "user-5:<key>")."""
        if self.is_system:
            return self.job_key("")
        scope = f"org-{self.organization_id}" if self.organization_id else f"user-{self.owner_id}"
        return f"{scope}:{self.job_key('')}"

    def periodic_task_name(self) -> str:
        return self.name if self.is_system else f"user-schedule:{self.pk}"


class SystemScheduledJob(ScheduledJob):
    """The system schedules, for their own admin page."""

    class Meta:
        proxy = True
        verbose_name = "system schedule"
        verbose_name_plural = "system schedules"


class UserScheduledJob(ScheduledJob):
    """The users' schedules, for their own admin page."""

    class Meta:
        proxy = True
        verbose_name = "user schedule"
        verbose_name_plural = "user schedules"
