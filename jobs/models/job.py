"""The Job record and one JobAttempt per execution.

Only `jobs.services` writes a Job; read through `jobs.selectors`.

The states recovery acts on are named here once, as methods of Job's queryset (`Job.objects`),
so that the admin's filters, the selectors, the rescuer and the sweeper read the same rule:

  * `due(now)`:       queued or not, its run_at (if any) has come;
  * `held()`:         queued with no message and no gate: a long delay, or a publish that
                      failed; the sweeper publishes it once due;
  * `sent()`:         queued with its message out;
  * `stale(now)`:     running, and its worker stopped heartbeating for JOBS_HEARTBEAT_TIMEOUT
                      (or never heartbeated and was last written before that): the rescuer
                      requeues exactly these;
  * `overtaken(now)`: sent, due, and its message went out more than
                      JOBS_SWEEP_OVERTAKEN_AFTER before the delivery mark of its queue and
                      priority: its message is lost, and the sweeper publishes it again;
  * `late(now)`:      queued and unclaimed for JOBS_SWEEP_UNCLAIMED_AFTER: held and due since
                      before then, or sent before then (and due); a job waiting at its gate
                      for room in its limit is never late (that wait is by design);
  * `unclaimed(now)`: late or overtaken: what the sweeper acts on (`jobs.services.sweeper`): a held
                      job is published, an overtaken one published again, and for a late sent
                      one a probe goes through its queue to learn whether its message is there.
Each has a `*_q(now)` twin returning the Q object, for a reader that combines them.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from jobs.conf import conf
from jobs.models.marks import DeliveryMark
from jobs.models.tenancy import Organization, Project
from jobs.states import FINAL_STATUSES, AttemptOutcome, JobStatus


def due_q(now: datetime) -> Q:
    """Jobs whose run_at, if any, has come by `now`."""
    return Q(run_at__isnull=True) | Q(run_at__lte=now)


# queued, no message, no gate: the sweeper publishes it once due
HELD = Q(status=JobStatus.QUEUED, dispatched_at__isnull=True, gate__isnull=True)
# queued, with its message out to the broker
SENT = Q(status=JobStatus.QUEUED, dispatched_at__isnull=False)
# queued, no message, waiting for room in its type's limit: `jobs.services.gates` admits it
AT_GATE = Q(status=JobStatus.QUEUED, dispatched_at__isnull=True, gate__isnull=False)


def stale_q(now: datetime | None = None) -> Q:
    """Running jobs whose worker stopped heartbeating JOBS_HEARTBEAT_TIMEOUT ago, or that
    never heartbeated and were last written before that (their worker died at once)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=conf.heartbeat_timeout)
    return Q(status=JobStatus.RUNNING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)
    )


def overtaken_q(now: datetime | None = None, *, through: datetime | None = None) -> Q:
    """Sent jobs due JOBS_SWEEP_OVERTAKEN_AFTER ago whose message went out more than that
    before the delivery mark of their queue and priority: workers took later messages of
    the same list, so this one is gone.

    `through` is the mark when the caller already read it (the sweeper reads every mark once
    per pass and asks per queue and priority); without it each job's mark is read by a
    subquery. A queue and priority with no mark overtakes nothing."""
    now = now or timezone.now()
    margin = timedelta(seconds=conf.sweep_overtaken_after)
    mark: Any = through
    if mark is None:
        mark = Subquery(
            DeliveryMark.objects.filter(queue=OuterRef("queue"), priority=OuterRef("priority"))
            .values("delivered_through")[:1]
        )
    return SENT & due_q(now - margin) & Q(dispatched_at__lt=mark - margin)


def late_q(now: datetime | None = None) -> Q:
    """Queued jobs that nobody claimed for JOBS_SWEEP_UNCLAIMED_AFTER: held ones due (and
    queued) since before then, and sent ones whose message went out before then and that
    have been due for JOBS_SWEEP_OVERTAKEN_AFTER (the margin of a message on its way).
    Jobs waiting at their gate are never late: that wait is by design."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=conf.sweep_unclaimed_after)
    margin = timedelta(seconds=conf.sweep_overtaken_after)
    # a held job is due since max(queued_at, run_at): both must be older than the cutoff
    queued_before = Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, created_at__lt=cutoff)
    held = HELD & queued_before & (Q(run_at__isnull=True) | Q(run_at__lt=cutoff))
    sent = SENT & Q(dispatched_at__lt=cutoff) & due_q(now - margin)
    return held | sent


def unclaimed_q(now: datetime | None = None) -> Q:
    """Queued jobs nobody claimed that the sweeper acts on: late ones (held: published;
    sent: a probe through their queue) and overtaken ones (published again)."""
    now = now or timezone.now()
    return late_q(now) | overtaken_q(now)


# The namespace of run_job task ids: uuid5 of "<job id>/<token>" in it.
RUN_JOB_TASK_NAMESPACE = uuid.UUID("5f0c8e4a-3d59-4c64-9a36-5b0f2f1c7e21")


def run_job_task_id(job_id: Any, token: Any) -> str:
    """The Celery task id of the run_job message that carries (job_id, token): derived, so that
    the admin can name a job's current task (and link to it in Flower) with nothing stored per
    publish. A job gets a new token whenever it gets a new message (a retry, a rescue, a
    republish), so the id names one message; a redelivery of that message keeps it."""
    return str(uuid.uuid5(RUN_JOB_TASK_NAMESPACE, f"{job_id}/{token}"))


class JobQuerySet(models.QuerySet["Job"]):
    """Job's named states (see the module's docstring); each narrows the queryset."""

    def due(self, now: datetime | None = None) -> JobQuerySet:
        return self.filter(due_q(now or timezone.now()))

    def held(self) -> JobQuerySet:
        return self.filter(HELD)

    def sent(self) -> JobQuerySet:
        return self.filter(SENT)

    def stale(self, now: datetime | None = None) -> JobQuerySet:
        return self.filter(stale_q(now))

    def overtaken(self, now: datetime | None = None, *, through: datetime | None = None) -> JobQuerySet:
        return self.filter(overtaken_q(now, through=through))

    def late(self, now: datetime | None = None) -> JobQuerySet:
        return self.filter(late_q(now))

    def unclaimed(self, now: datetime | None = None) -> JobQuerySet:
        return self.filter(unclaimed_q(now))


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=100)
    queue = models.CharField(max_length=100, default="default")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=500, blank=True, default="")
    input = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    error_traceback = models.TextField(blank=True, default="")
    # 1 is the most urgent, 10 the least (as Celery's Redis priorities and BullMQ).
    priority = models.PositiveSmallIntegerField(default=5)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    rescues = models.PositiveSmallIntegerField(default=0)
    dedup_key = models.CharField(max_length=255, null=True, blank=True)
    # what the type's concurrency limit is counted per ("org:42"); NULL: one limit for the type
    concurrency_key = models.CharField(max_length=255, null=True, blank=True)
    # The limit the job is admitted through, when its type has a concurrency or rate limit:
    # the type, or "type|key" for a limit counted per key (`jobs.services.gates`). Such a job gets a
    # message only once the limit has room for it. NULL: no limit applies.
    gate = models.CharField(max_length=255, null=True, blank=True)
    # Every published message carries the token; a claim must match it, so messages from
    # before a retry, rescue or republish do nothing.
    token = models.UUIDField(default=uuid.uuid4)
    # no index of their own: the (column, created_at) indexes below serve the same lookups, and
    # every index is one more write per job
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs",
        db_index=False,
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs", db_index=False
    )
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs", db_index=False
    )
    worker = models.CharField(max_length=255, blank=True, default="")
    run_at = models.DateTimeField(null=True, blank=True)
    # When the last message was handed to the broker; NULL while the job is held in the
    # database (a long delay, or a publish that failed) for the sweeper to publish.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # a queued job not started by then fails (the type's queue_timeout)
    expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    estimated_duration = models.FloatField(null=True, blank=True, help_text="seconds")
    actual_duration = models.FloatField(null=True, blank=True, help_text="seconds")
    # the last error's class and first line, normalised and hashed (`jobs.error_groups`), of a
    # failed job or one queued for a retry: the console groups failures by it
    error_group = models.CharField(max_length=32, blank=True, default="")

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        # what an operator may do beyond seeing jobs (`jobs.services.permissions`)
        permissions = [
            ("view_job_payload", "Can view the inputs and results of jobs"),
            ("view_sensitive_input", "Can view the input fields a handler declares sensitive"),
            ("cancel_job", "Can cancel jobs"),
            ("retry_job", "Can retry jobs"),
            ("bulk_job", "Can act on many jobs at once"),
            ("pause_work", "Can pause and resume queues and job types"),
        ]
        indexes = [
            models.Index(fields=["-created_at"], name="job_created_idx"),
            models.Index(fields=["status", "-created_at"], name="job_status_created_idx"),
            models.Index(fields=["type", "-created_at"], name="job_type_created_idx"),
            # Who may see a job, and the filters, ride along after created_at (so the lists
            # still read these in that order): the counts behind a user's lists, filtered or
            # not, and an organization's or a project's stats are then read from the index
            # alone (selectors.job_list, migration 0008)
            models.Index(fields=["created_by", "-created_at", "status", "type"], name="job_creator_list_idx"),
            models.Index(fields=["organization", "-created_at", "status", "created_by", "type"],
                         name="job_org_list_idx"),
            models.Index(fields=["project", "-created_at", "status", "organization", "created_by"],
                         name="job_project_list_idx"),
            # the rescuer's and the sweeper's scans stay small whatever the table's size
            models.Index(fields=["heartbeat_at"], name="job_running_heartbeat_idx", condition=Q(status="running")),
            # queued jobs that a message carries, in the order Redis hands them out: the sweeper
            # finds lost messages here (`jobs.services.sweeper`)
            models.Index(fields=["queue", "priority", "dispatched_at"], name="job_queued_sent_idx",
                         condition=Q(status="queued", dispatched_at__isnull=False)),
            # queued jobs that no message carries: held for the sweeper (no gate), or waiting
            # for room in their limit, in the order they are admitted
            models.Index(fields=["gate", "priority", "queued_at"], name="job_queued_waiting_idx",
                         condition=Q(status="queued", dispatched_at__isnull=True)),
            # what occupies a limit: running, or admitted (queued with its message out); only
            # limited jobs have an entry
            models.Index(fields=["gate"], name="job_gate_busy_idx",
                         condition=Q(gate__isnull=False)
                         & (Q(status="running") | Q(status="queued", dispatched_at__isnull=False))),
            # most jobs have no queue-wait timeout: they need no entry here
            models.Index(fields=["expires_at"], name="job_queued_expiring_idx",
                         condition=Q(status="queued", expires_at__isnull=False)),
            # the console's per-minute rollup reads jobs by the time they finished
            models.Index(fields=["completed_at"], name="job_completed_idx", condition=Q(completed_at__isnull=False)),
            # failures grouped by error (and the retries waiting after the same error), read from
            # the index alone; only jobs whose last attempt failed have an entry
            models.Index(fields=["error_group", "status", "type", "completed_at"], name="job_failed_group_idx",
                         condition=~Q(error_group="")),
            # the console's search by dedup key (and its prefix); only jobs with a key have an entry
            models.Index(fields=["dedup_key"], name="job_dedup_key_idx", opclasses=["varchar_pattern_ops"],
                         condition=Q(dedup_key__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=JobStatus.values), name="job_status_valid"),
            models.CheckConstraint(condition=Q(progress__gte=0, progress__lte=100), name="job_progress_range"),
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=10), name="job_priority_range"),
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="job_max_attempts_positive"),
            models.UniqueConstraint(
                fields=["dedup_key"],
                condition=Q(status="queued", dedup_key__isnull=False),
                name="job_dedup_key_one_queued",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def current_task_id(self) -> str:
        """The Celery task id of the message that carries this job's current token."""
        return run_job_task_id(self.pk, self.token)


class JobAttempt(models.Model):
    Outcome = AttemptOutcome  # the one enum of outcomes lives in jobs.states

    # the unique (job, number) index serves lookups by job: no index of its own
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="attempt_set", db_index=False)
    number = models.PositiveSmallIntegerField()
    worker = models.CharField(max_length=255, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    error = models.TextField(blank=True, default="")
    error_traceback = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["job", "number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="job_attempt_unique_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.job_id}: {self.outcome}"

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
