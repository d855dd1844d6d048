"""Creating jobs: one (`job_create`), or many of one type at once (`jobs_create_bulk`).

A job is validated (type, input, schema, priority, run time, dedup key, organization) before
anything is stored. It is stored queued and published once the transaction commits
(`jobs.publishing`); a publish that fails leaves it held in the database for the sweeper,
never lost and never a 500. A job of a type with a concurrency or rate limit waits at its gate
instead, and `jobs.services.gates` admits it when the limit has room.

Deduplication: a dedup key (given, or from the type's template) that a queued job already
holds returns that job. Debounce is trailing: a deduplicated job of a type with a debounce
window is pushed back to run a window from now.
"""
from __future__ import annotations

import logging
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import signals
from django.utils import timezone

from handlers.registry import HandlerSpec, get_handler, registered_types
from jobs import publishing
from jobs.errors import JobValidationError, UnknownJobType
from jobs.models import Job, Organization, Project
from jobs.services import reporting
from jobs.services.gates import admit_on_commit, gate_for, schedule_on_commit
from jobs.services.transitions import _expiry
from jobs.states import JobStatus
from jobs.storage import queries
from jobs.validation import (
    check_input_schema,
    organization_for,
    validated_dedup_key,
    validated_input,
    validated_priority,
    validated_run_at,
)

logger = logging.getLogger("conveyor.jobs")


@dataclass(frozen=True)
class JobCreated:
    """What `job_create` did: the job, and whether it is a queued job that already held the
    dedup key (`deduplicated`) rather than a new one."""

    job: Job
    deduplicated: bool


@reporting.counts_rejections
def job_create(
    *,
    type: str,
    input: dict[str, Any] | None = None,
    created_by: Any = None,
    organization: Organization | None = None,
    project: Project | None = None,
    priority: int | None = None,
    run_at: datetime | None = None,
    delay: float | None = None,
    dedup_key: str | None = None,
    estimated_duration: float | None = None,
) -> JobCreated:
    """Validate and store a queued job; publish it once the transaction commits.

    With a dedup key (given, or from the type's template) that a queued job already holds,
    that job is the answer, with `deduplicated` true. For a type with a debounce window, that
    job is pushed back to run a window from now.
    """
    spec = _tracked_spec(type)
    payload = validated_input(input)
    check_input_schema(spec, payload)
    job_priority = validated_priority(priority, spec.priority)
    now = timezone.now()
    due = validated_run_at(run_at, delay, now)
    dedup_key = _dedup_key_for(spec, payload, dedup_key)
    organization = organization_for(project=project, organization=organization)
    if spec.debounce is not None and due is None:
        due = now + timedelta(seconds=spec.debounce)
    if dedup_key is not None:
        existing = _queued_with_key(dedup_key)
        if existing is not None:
            reporting.deduplicated(type)
            return JobCreated(_debounced(existing, spec, now) if spec.debounce else existing, deduplicated=True)
    concurrency_key = _concurrency_key(spec, payload, created_by, organization, project)
    job = Job(
        type=type, queue=spec.queue, input=payload, priority=job_priority, max_attempts=spec.max_attempts,
        dedup_key=dedup_key, concurrency_key=concurrency_key, gate=gate_for(spec, concurrency_key),
        created_by=created_by, organization=organization, project=project, run_at=due,
        expires_at=_expiry(spec, due or now), queued_at=now, created_at=now, updated_at=now,
        estimated_duration=estimated_duration,
    )
    stored = _store(job, now)
    if stored is not job:
        reporting.deduplicated(type)
    else:
        reporting.created(type, job.queue)
        logger.info("job %s created: type=%s queue=%s priority=%s run_at=%s", job.pk, type, job.queue,
                    job_priority, due)
    return JobCreated(stored, deduplicated=stored is not job)


def _tracked_spec(job_type: Any) -> HandlerSpec:
    """The handler of a tracked type (its jobs have a Job row); UnknownJobType otherwise."""
    spec = get_handler(job_type) if isinstance(job_type, str) else None
    if spec is None:
        raise UnknownJobType(str(job_type), registered_types(tracked=True))
    if not spec.tracked:
        raise JobValidationError(
            "type", f"{job_type!r} is an untracked job (it has no Job row); send it with untracked_job_send"
        )
    return spec


def _dedup_key_for(spec: HandlerSpec, payload: dict[str, Any], given: Any) -> str | None:
    """The given dedup key, or the one the type's template builds from the input."""
    if given is None:
        try:
            given = spec.format_dedup_key(payload)
        except KeyError as missing:
            raise JobValidationError(
                f"input.{missing.args[0]}", f"is required to build the dedup key {spec.dedup_key!r}"
            ) from None
    return validated_dedup_key(given)


def _store(job: Job, now: datetime) -> Job:
    """INSERT the new job and publish it after the commit (or wait at its gate); a queued job
    that took the same dedup key meanwhile is returned instead."""
    dispatched_at, countdown = publishing.dispatch_plan(job.run_at, now) if job.gate is None else (None, None)
    job.dispatched_at = dispatched_at
    try:
        # Outside a transaction the INSERT commits alone, in one round trip, and the job is
        # published at once; inside the caller's, a savepoint keeps a dedup race (the one
        # conflict an INSERT of a new job expects) from breaking it, and the publish waits
        # for its commit.
        with transaction.atomic() if job.dedup_key is not None and connection.in_atomic_block else nullcontext():
            _insert_one(job)
            if dispatched_at is not None:
                publishing.publish_on_commit(job, job.token, countdown)
            _wait_at_gate_on_commit(job)
    except IntegrityError:
        # another request inserted the same dedup key between our read and our insert
        existing = _queued_with_key(job.dedup_key) if job.dedup_key is not None else None
        if existing is None:
            raise
        return existing
    return job


def _insert_one(job: Job) -> None:
    """The prepared INSERT (`jobs.storage.queries.insert_job`); save() itself when something
    listens to Job's save signals."""
    if signals.pre_save.has_listeners(Job) or signals.post_save.has_listeners(Job):
        job.save(force_insert=True)
    else:
        queries.insert_job(job)


@reporting.counts_rejections
def jobs_create_bulk(
    *,
    type: str,
    inputs: list[dict[str, Any]],
    created_by: Any = None,
    organization: Organization | None = None,
    project: Project | None = None,
    priority: int | None = None,
) -> list[Job]:
    """Create many jobs of one type in one transaction (one COPY on PostgreSQL, a bulk INSERT
    per thousand elsewhere) and publish them after the commit on one producer, a Redis
    pipeline per thousand. All or nothing: the first invalid payload refuses the whole batch,
    naming its index. If the broker fails part-way, the jobs not yet published are held for
    the sweeper, as a single job's failed publish is. Jobs of a limited type wait at their
    gate, which admits as many as its limit has room for."""
    spec = _tracked_spec(type)
    if spec.dedup_key or spec.debounce:
        raise JobValidationError("type", f"{type!r} deduplicates or debounces its jobs; create them one by one")
    payloads = _validated_inputs(spec, inputs)
    job_priority = validated_priority(priority, spec.priority)
    organization = organization_for(project=project, organization=organization)
    now = timezone.now()
    expires_at = _expiry(spec, now)
    jobs = []
    for payload in payloads:
        key = _concurrency_key(spec, payload, created_by, organization, project)
        gate = gate_for(spec, key)
        jobs.append(Job(type=type, queue=spec.queue, input=payload, priority=job_priority,
                        max_attempts=spec.max_attempts, concurrency_key=key, gate=gate, created_by=created_by,
                        organization=organization, project=project, expires_at=expires_at,
                        dispatched_at=now if gate is None else None, queued_at=now, created_at=now, updated_at=now))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            queries.copy_jobs(jobs)
        else:
            Job.objects.bulk_create(jobs, batch_size=1000)
        messages = [(job.pk, job.token, job.type, job.queue, job.priority) for job in jobs if job.gate is None]
        if messages:
            publishing.publish_many_on_commit(messages)
        for gate in sorted({job.gate for job in jobs if job.gate is not None}):
            admit_on_commit(gate)
    reporting.created(type, spec.queue, len(jobs))
    logger.info("%s jobs created in bulk: type=%s", len(jobs), type)
    return jobs


def _validated_inputs(spec: HandlerSpec, inputs: Any) -> list[dict[str, Any]]:
    """Each input checked as job_create checks one; an error names its index."""
    if not isinstance(inputs, list) or not inputs:
        raise JobValidationError("inputs", "must be a non-empty list of JSON objects")
    payloads: list[dict[str, Any]] = []
    for index, value in enumerate(inputs):
        if index and value is inputs[index - 1]:
            payloads.append(payloads[-1])  # one input given for many jobs (`[payload] * n`): checked once
            continue
        try:
            payload = validated_input(value)
            check_input_schema(spec, payload)
        except JobValidationError as exc:
            raise JobValidationError(f"inputs[{index}].{exc.field}", exc.detail) from None
        payloads.append(payload)
    return payloads


def _concurrency_key(spec: HandlerSpec, payload: dict[str, Any], user: Any, org: Any, project: Any) -> str | None:
    """The value a type's concurrency limit is counted per (None: one limit for the type)."""
    scope = spec.concurrency_key
    if not spec.concurrency or scope is None:
        return None
    if scope == "org":
        return f"org:{org.pk if org else '-'}"
    if scope == "user":
        return f"user:{user.pk if user else '-'}"
    if scope == "project":
        return f"project:{project.pk if project else '-'}"
    field = scope[len("input."):]
    if field not in payload:
        raise JobValidationError(f"input.{field}", f"is required: the type's concurrency is limited per {field}")
    return f"{field}:{payload[field]}"[:255]


def _wait_at_gate_on_commit(job: Job) -> None:
    """A limited job waits at its gate: admitted once the transaction commits if it is due,
    else a timer admits it when it is."""
    if job.gate is None:
        return
    if job.run_at is not None and job.run_at > timezone.now():
        schedule_on_commit(job.gate, job.run_at)
    else:
        admit_on_commit(job.gate)


def _queued_with_key(dedup_key: str) -> Job | None:
    return Job.objects.filter(dedup_key=dedup_key, status=JobStatus.QUEUED).first()


def _debounced(job: Job, spec: HandlerSpec, now: datetime) -> Job:
    """Push a queued debounced job back to a window from now: trailing debounce. A new token
    makes the message already scheduled for the old time stale."""
    assert spec.debounce is not None
    run_at = now + timedelta(seconds=spec.debounce)
    token = uuid.uuid4()
    dispatched_at, countdown = publishing.dispatch_plan(run_at, now) if job.gate is None else (None, None)
    with transaction.atomic():
        changed = Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED, token=job.token).update(
            token=token, run_at=run_at, dispatched_at=dispatched_at, updated_at=now, expires_at=_expiry(spec, run_at)
        )
        if changed and dispatched_at is not None:
            publishing.publish_on_commit(job, token, countdown)
        if changed:
            job.run_at = run_at
            _wait_at_gate_on_commit(job)
    if changed:
        job.token, job.run_at = token, run_at
    return job
