"""Every write to a Job goes through here.

1. A transition is one UPDATE guarded by the statuses it may start from (`jobs.states`) and,
   for a running job, by the execution's token; no row changed means the rule was broken,
   and `InvalidJobTransition` says which job, which status and which target.
2. Creating, retrying or requeueing a job publishes `run_job(job_id, token)` after the
   transaction commits (`jobs.publishing`); a publish that fails leaves the job held in the
   database (dispatched_at NULL) for the sweeper, never lost and never a 500. A job of a
   type with a concurrency or rate limit waits in the database instead, and its gate admits
   it when the limit has room (`jobs.gates`); ending an execution frees room.
3. A worker claims a job by matching its token: redelivered, duplicated or stale messages
   claim nothing and do nothing.
4. A failed attempt either goes back to queued with a backoff delay and a new token, or, when
   no attempts are left or the error is permanent, ends failed with its error kept.
5. The rescuer requeues running jobs whose heartbeat went stale (the worker died); the
   sweeper publishes queued jobs that are due but that no message will ever deliver
   (`jobs.recovery`).
"""
from __future__ import annotations

import json
import logging
import math
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from jobs import dispatch, gates, hot_sql, publishing, recovery, results, validation
from jobs.errors import (
    ConveyorError, InvalidJobTransition, JobNotFound, JobValidationError, QuotaExceeded,
    UnknownJobType,
)
from jobs.models import Job, JobAttempt, Organization, Project
from jobs.results import DeliveryResult
from jobs.selectors import parse_job_id
from jobs.states import ALLOWED_FROM, JobStatus
from jobs.validation import (
    SUBMITTED_DEDUP_KEY_MAX, _validated_priority, _validated_run_at, validated_dedup_key, validated_input,
)

logger = logging.getLogger("conveyor.jobs")

Outcome = JobAttempt.Outcome


# --- the one place a status changes --------------------------------------------------------


def _transition(
    job_id: Any,
    *,
    target: str,
    sources: frozenset[str] | None = None,
    guard: Q | None = None,
    reason: str = "",
    **changes: Any,
) -> None:
    allowed = ALLOWED_FROM[target]
    sources = allowed if sources is None else sources
    if not sources <= allowed:
        raise AssertionError(f"transition to {target} from {sorted(sources - allowed)} is not in the table")
    query = Job.objects.filter(pk=job_id, status__in=sources)
    if guard is not None:
        query = query.filter(guard)
    now = timezone.now()
    if query.update(status=target, updated_at=now, **changes) == 0:
        raise _explain_miss(job_id, target, reason)


def _explain_miss(job_id: Any, target: str, reason: str = "") -> Exception:
    current = Job.objects.filter(pk=job_id).values_list("status", flat=True).first()
    if current is None:
        return JobNotFound(job_id)
    if reason and current in ALLOWED_FROM[target]:
        return InvalidJobTransition(job_id, current, target, reason)
    return InvalidJobTransition(job_id, current, target)


_NOT_OWNED = "this execution no longer owns the job"


def _owned(job: Job) -> Q:
    """The guard of every write by an execution: still running, still this execution's token."""
    return Q(token=job.token)


# --- create ---------------------------------------------------------------------------------


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
) -> Job:
    """Validate and store a queued job; publish it once the transaction commits.

    With a dedup key (given, or from the type's template) that a queued job already holds,
    that job is returned with `job.deduplicated = True` (a new job has False). For a type
    with a debounce window, that returned job is pushed back to run a window from now.
    """
    from handlers.registry import get_handler, registered_types

    spec = get_handler(type) if isinstance(type, str) else None
    if spec is None or spec.system:
        if spec is not None:
            raise JobValidationError("type", f"{type!r} is a system job: it has no Job row; use system_job_send")
        raise UnknownJobType(str(type), registered_types(system=False))
    payload = validated_input(input)
    check_input_schema(spec, payload)
    job_priority = _validated_priority(priority, spec.priority)
    now = timezone.now()
    due = _validated_run_at(run_at, delay, now)
    if dedup_key is None:
        try:
            dedup_key = spec.format_dedup_key(payload)
        except KeyError as missing:
            raise JobValidationError(f"input.{missing.args[0]}", f"is required to build the dedup key {spec.dedup_key!r}") from None
    dedup_key = validated_dedup_key(dedup_key)
    if project is not None:
        if organization is None:
            organization = project.organization
        elif project.organization_id not in (None, organization.pk):
            raise JobValidationError(
                "projectId", f"project {project.pk} belongs to another organization than {organization.pk}"
            )
    if spec.debounce is not None and due is None:
        due = now + timedelta(seconds=spec.debounce)

    if dedup_key is not None:
        existing = _queued_with_key(dedup_key)
        if existing is not None:
            return _debounced(existing, spec, now) if spec.debounce else existing

    concurrency_key = _concurrency_key(spec, payload, created_by, organization, project)
    gate = gates.gate_for(spec, concurrency_key)
    dispatched_at, countdown = publishing.dispatch_plan(due, now) if gate is None else (None, None)
    job = Job(
        type=type,
        queue=spec.queue,
        input=payload,
        priority=job_priority,
        max_attempts=spec.max_attempts,
        dedup_key=dedup_key,
        concurrency_key=concurrency_key,
        gate=gate,
        created_by=created_by,
        organization=organization,
        project=project,
        run_at=due,
        expires_at=_expiry(spec, due or now),
        dispatched_at=dispatched_at,
        queued_at=now,
        created_at=now,
        updated_at=now,
        estimated_duration=estimated_duration,
    )
    try:
        # Outside a transaction the INSERT commits alone, in one round trip, and the job is
        # published at once; inside the caller's, a savepoint keeps a dedup race (the one
        # conflict an INSERT of a new job expects) from breaking it, and the publish waits
        # for its commit.
        with transaction.atomic() if dedup_key is not None and connection.in_atomic_block else nullcontext():
            _insert_one(job)
            if dispatched_at is not None:
                publishing.publish_on_commit(job, job.token, countdown)
            _wait_at_gate_on_commit(job)
    except IntegrityError:
        # another request inserted the same dedup key between our read and our insert
        existing = _queued_with_key(dedup_key) if dedup_key is not None else None
        if existing is None:
            raise
        return existing
    job.deduplicated = False
    logger.info("job %s created: type=%s queue=%s priority=%s run_at=%s", job.pk, type, job.queue, job_priority, due)
    return job


_INSERT_SQL: dict[str, str] = {}


def _insert_one(job: Job) -> None:
    """`job.save(force_insert=True)` without compiling the same INSERT for every job (~0.1 ms
    of CPU each): the statement is built once and, on PostgreSQL, prepared once per
    connection (`jobs.hot_sql`); each value goes through its field's pre_save and
    get_db_prep_save as in save(). save() itself when something listens to Job's save
    signals."""
    from django.db.models import signals

    if signals.pre_save.has_listeners(Job) or signals.post_save.has_listeners(Job):
        job.save(force_insert=True)
        return
    job._prepare_related_fields_for_save(operation_name="save")  # refuses an unsaved user, org or project
    db = transaction.get_connection()  # the connection itself: each use of the proxy is a lookup
    fields = Job._meta.concrete_fields
    sql = _INSERT_SQL.get(db.vendor)
    if sql is None:
        quote = db.ops.quote_name
        sql = _INSERT_SQL[db.vendor] = (
            f"INSERT INTO {quote(Job._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
    params = []
    for field in fields:
        value = field.pre_save(job, True)
        params.append(None if value is None else field.get_db_prep_save(value, db))
    with hot_sql.prepared_cursor() as cursor:
        cursor.execute(sql, params)
    job._state.adding = False
    job._state.db = db.alias


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
    from handlers.registry import get_handler, registered_types

    spec = get_handler(type) if isinstance(type, str) else None
    if spec is None or spec.system:
        raise UnknownJobType(str(type), registered_types(system=False))
    if spec.dedup_key or spec.debounce:
        raise JobValidationError("type", f"{type!r} deduplicates or debounces its jobs; create them one by one")
    if not isinstance(inputs, list) or not inputs:
        raise JobValidationError("inputs", "must be a non-empty list of JSON objects")
    payloads = []
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
    job_priority = _validated_priority(priority, spec.priority)
    if project is not None and organization is None:
        organization = project.organization
    now = timezone.now()
    expires_at = _expiry(spec, now)
    jobs = []
    for payload in payloads:
        key = _concurrency_key(spec, payload, created_by, organization, project)
        gate = gates.gate_for(spec, key)
        jobs.append(Job(type=type, queue=spec.queue, input=payload, priority=job_priority,
                        max_attempts=spec.max_attempts, concurrency_key=key, gate=gate, created_by=created_by,
                        organization=organization, project=project, expires_at=expires_at,
                        dispatched_at=now if gate is None else None, queued_at=now, created_at=now, updated_at=now))
    with transaction.atomic():
        _insert_many(jobs)
        messages = [(job.pk, job.token, job.type, job.queue, job.priority) for job in jobs if job.gate is None]
        if messages:
            publishing.publish_many_on_commit(messages)
        for gate in sorted({job.gate for job in jobs if job.gate is not None}):
            gates.admit_on_commit(gate)
    logger.info("%s jobs created in bulk: type=%s", len(jobs), type)
    return jobs


def _insert_many(jobs: list[Job]) -> None:
    """INSERT new jobs: one COPY on PostgreSQL, bulk INSERTs of a thousand elsewhere.

    COPY takes each value as Django would send it (the field's get_db_prep_save); a column
    whose value is the same object in every job (the type, the timestamps, an input given
    once for all) is prepared once."""
    if connection.vendor != "postgresql":
        Job.objects.bulk_create(jobs, batch_size=1000)
        return
    for job in jobs:
        job._prepare_related_fields_for_save(operation_name="bulk_create")
    db = transaction.get_connection()
    fields = Job._meta.concrete_fields
    template: list[Any] = []
    varying: list[tuple[int, Any]] = []
    first = jobs[0]
    for position, field in enumerate(fields):
        name = field.attname
        value = getattr(first, name)
        if all(getattr(job, name) is value for job in jobs):
            template.append(field.get_db_prep_save(value, db))
        else:
            template.append(None)
            varying.append((position, field))
    quote = db.ops.quote_name
    sql = f"COPY {quote(Job._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) FROM STDIN"
    with db.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no COPY
        with db.wrap_database_errors, raw.copy(sql) as copy:
            for job in jobs:
                row = template.copy()
                for position, field in varying:
                    row[position] = field.get_db_prep_save(getattr(job, field.attname), db)
                copy.write_row(row)
    for job in jobs:
        job._state.adding = False
        job._state.db = db.alias


def check_input_schema(spec: Any, payload: dict[str, Any]) -> None:
    """JobValidationError naming the first field of `payload` that the type's schema refuses."""
    if spec.schema is None:
        return
    from pydantic import ValidationError

    try:
        spec.schema.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "input"
        raise JobValidationError(f"input.{where}" if where != "input" else where, first.get("msg", "is invalid")) from None


def _concurrency_key(spec: Any, payload: dict[str, Any], user: Any, org: Any, project: Any) -> str | None:
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
        gates.schedule_on_commit(job.gate, job.run_at)
    else:
        gates.admit_on_commit(job.gate)


def _expiry(spec: Any, due: datetime) -> datetime | None:
    return due + timedelta(seconds=spec.queue_timeout) if spec.queue_timeout else None


def _queued_with_key(dedup_key: str) -> Job | None:
    existing = Job.objects.filter(dedup_key=dedup_key, status=JobStatus.QUEUED).first()
    if existing is not None:
        existing.deduplicated = True
    return existing


def _debounced(job: Job, spec: Any, now: datetime) -> Job:
    """Push a queued debounced job back to a window from now: trailing debounce. A new token
    makes the message already scheduled for the old time stale."""
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
    job.deduplicated = True
    return job


# --- the life of an execution ---------------------------------------------------------------


_CLAIM_SQL = """
UPDATE jobs_job
   SET status = %s, attempts = attempts + 1, started_at = %s, heartbeat_at = %s,
       updated_at = %s, worker = %s, completed_at = NULL
 WHERE id = %s AND status = %s AND token = %s AND (expires_at IS NULL OR expires_at > %s)
RETURNING id, type, queue, input, priority, attempts, max_attempts, rescues, token, started_at,
          cancel_requested_at, concurrency_key, gate, dispatched_at, created_by_id, organization_id,
          project_id, worker
"""

# On PostgreSQL the attempt's row is inserted by the same statement: one round trip, one commit.
_CLAIM_WITH_ATTEMPT_SQL = f"""
WITH claimed AS ({_CLAIM_SQL.strip()}),
     attempt AS (
       INSERT INTO jobs_jobattempt (job_id, number, worker, started_at, outcome, error, error_traceback)
       SELECT id, attempts, worker, started_at, 'running', '', '' FROM claimed
     )
SELECT * FROM claimed
"""


def job_claim(*, job_id: Any, token: Any, worker: str) -> Job | None:
    """Make this execution the job's one live execution, or return None.

    None means the message was stale or a duplicate (wrong token, job not queued): the
    caller acks it and does nothing. One UPDATE ... RETURNING, with the attempt's row.
    """
    try:
        pk = uuid.UUID(str(job_id))
        tok = uuid.UUID(str(token))
    except ValueError:
        logger.warning("run_job message with a malformed job id %r or token %r ignored", job_id, token)
        return None
    now = timezone.now()
    id_field = Job._meta.get_field("id")
    when = connection.ops.adapt_datetimefield_value(now)
    params = [
        JobStatus.RUNNING,
        when,
        when,
        when,
        worker[:255],
        id_field.get_db_prep_value(pk, connection),
        JobStatus.QUEUED,
        id_field.get_db_prep_value(tok, connection),
        when,
    ]
    together = connection.vendor == "postgresql"
    with hot_sql.prepared_cursor() as cursor:
        cursor.execute(_CLAIM_WITH_ATTEMPT_SQL if together else _CLAIM_SQL, params)
        job = hot_sql.fetch_model(cursor, Job)
    if job is None:
        _expire_if_overdue(pk, tok, now)
        return None
    job.worker = worker[:255]
    if not together:
        JobAttempt.objects.create(job_id=job.pk, number=job.attempts, worker=job.worker, started_at=now)
    return job


def _expire_if_overdue(job_id: uuid.UUID, token: uuid.UUID, now: datetime) -> None:
    """A claim that missed because the job waited past its queue timeout fails the job."""
    overdue = Job.objects.filter(pk=job_id, token=token, status=JobStatus.QUEUED, expires_at__lte=now)
    expires_at = overdue.values_list("expires_at", flat=True).first()
    if expires_at is not None:
        try:
            job_expire(job_id=job_id, reason=_queue_timeout_reason(expires_at))
        except InvalidJobTransition:
            pass


def _queue_timeout_reason(expires_at: datetime) -> str:
    return f"queue timeout: not started by {expires_at.isoformat()}, the deadline of its queue-wait timeout"


@dataclass(frozen=True)
class Liveness:
    """What an execution learns when it writes: may it go on, and was a cancel requested."""

    owned: bool
    cancel_requested: bool


def job_heartbeat(*, job: Job, progress: int | None = None, message: str | None = None) -> Liveness:
    """Bump heartbeat_at (and store progress when given) for a running execution."""
    changes: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        if not 0 <= progress <= 100:
            raise JobValidationError("progress", f"must be from 0 to 100, got {progress}")
        changes["progress"] = progress
        changes["progress_message"] = (message or "")[:500]
        changes["updated_at"] = changes["heartbeat_at"]
    live = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, token=job.token)
    if live.filter(cancel_requested_at__isnull=True).update(**changes):
        return Liveness(owned=True, cancel_requested=False)
    # a miss is rare: either a cancel was requested, or this execution no longer owns the job
    if live.update(**changes):
        return Liveness(owned=True, cancel_requested=True)
    return Liveness(owned=False, cancel_requested=False)


def job_cancel_requested(*, job: Job) -> bool:
    return Job.objects.filter(pk=job.pk, token=job.token, cancel_requested_at__isnull=False).exists()


def _finish_attempt(job: Job, outcome: str, error: str = "", traceback: str = "") -> None:
    JobAttempt.objects.filter(job_id=job.pk, number=job.attempts).update(
        finished_at=timezone.now(), outcome=outcome, error=error, error_traceback=traceback
    )


_COMPLETE_WITH_ATTEMPT_SQL = """
WITH done AS (
  UPDATE jobs_job
     SET status = 'completed', updated_at = %(now)s, result = %(result)s, progress = 100,
         completed_at = %(now)s, heartbeat_at = NULL, actual_duration = %(duration)s, error = '',
         error_traceback = ''
   WHERE id = %(id)s AND status = 'running' AND token = %(token)s
  RETURNING id, attempts
), attempt AS (
  UPDATE jobs_jobattempt SET finished_at = %(now)s, outcome = 'completed', error = '', error_traceback = ''
    FROM done WHERE jobs_jobattempt.job_id = done.id AND jobs_jobattempt.number = done.attempts
){stored}
SELECT id FROM done
"""


def job_complete(*, job: Job, result: Any, task_result: DeliveryResult | None = None,
                 summary: dict[str, Any] | None = None) -> bool:
    """running -> completed, storing the handler's result and the durations.

    On PostgreSQL the job's row and its attempt's are written by one statement; given the
    delivery's `task_result` and the `summary` it returns, so is Celery's result row. True
    when that row was written here (the result backend then skips it).
    """
    problem = validation.result_problem(result)
    if problem is None:
        try:
            json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as exc:
            problem = f"is not JSON-serializable: {exc}"
    if problem is not None:
        job_fail(job=job, error=f"the handler's result cannot be stored: {problem}", retry=False)
        return False
    now = timezone.now()
    duration = (now - (job.started_at or now)).total_seconds()
    stored = False
    if connection.vendor == "postgresql":
        id_field = Job._meta.get_field("id")
        params = {
            "now": now,
            "result": Job._meta.get_field("result").get_db_prep_value(result, connection),
            "duration": duration,
            "id": id_field.get_db_prep_value(job.pk, connection),
            "token": id_field.get_db_prep_value(job.token, connection),
        }
        stored_sql = ""
        if task_result is not None and summary is not None:
            row, update = task_result.row(summary)
            upsert, upsert_params = results.upsert_sql(row, update, source="done")
            stored_sql, stored = f", stored AS ({upsert})", True
            params.update(upsert_params)
        with hot_sql.prepared_cursor() as cursor:
            cursor.execute(_COMPLETE_WITH_ATTEMPT_SQL.format(stored=stored_sql), params)
            missed = cursor.fetchone() is None
        if missed:
            # a retry after a commit whose acknowledgement was lost finds its own completion
            if not Job.objects.filter(pk=job.pk, token=job.token, attempts=job.attempts,
                                      status=JobStatus.COMPLETED).exists():
                raise _explain_miss(job.pk, JobStatus.COMPLETED, _NOT_OWNED)
            logger.info("job %s: its completion had already been stored", job.pk)
        gates.admit_on_commit(job.gate)
    else:
        _end_execution(job, target=JobStatus.COMPLETED, outcome=Outcome.COMPLETED, result=result, progress=100,
                       completed_at=now, actual_duration=duration, error="", error_traceback="")
    logger.info("job %s completed on attempt %s by %s", job.pk, job.attempts, job.worker)
    return stored


def _end_execution(
    job: Job, *, target: str, outcome: str, attempt_error: str = "", attempt_traceback: str = "",
    publish: tuple[uuid.UUID, float | None] | None = None, **changes: Any,
) -> None:
    """The running execution's job leaves running (guarded by its token) and its attempt's
    row is closed, in one transaction; `publish` = (token, countdown) sends it again after.
    The room the execution held in its gate goes to the next waiting job."""
    with transaction.atomic():
        _transition(job.pk, target=target, sources=frozenset({JobStatus.RUNNING}), guard=_owned(job),
                    reason=_NOT_OWNED, heartbeat_at=None, **changes)
        _finish_attempt(job, outcome, attempt_error, attempt_traceback)
        if publish is not None:
            publishing.publish_on_commit(job, *publish)
        gates.admit_on_commit(job.gate)


def _requeue(job: Job, *, run_at: datetime | None, outcome: str, attempt_error: str = "",
             attempt_traceback: str = "", **changes: Any) -> None:
    """running -> queued with a new token: published now, as a countdown, or held in the
    database until the sweeper sees it due; a limited job waits at its gate instead, with a
    timer for when it is due."""
    from handlers.registry import get_handler

    spec = get_handler(job.type)
    now = timezone.now()
    token = uuid.uuid4()
    dispatched_at, countdown = publishing.dispatch_plan(run_at, now) if job.gate is None else (None, None)
    with transaction.atomic():  # the timer goes out with the commit, not before it
        gates.schedule_on_commit(job.gate, run_at)
        _end_execution(
            job, target=JobStatus.QUEUED, outcome=outcome, attempt_error=attempt_error,
            attempt_traceback=attempt_traceback, publish=(token, countdown) if dispatched_at is not None else None,
            token=token, run_at=run_at, dispatched_at=dispatched_at, queued_at=now,
            expires_at=_expiry(spec, run_at or now) if spec is not None else None, **changes,
        )


def job_fail(
    *, job: Job, error: str, traceback: str = "", retry: bool = True, delay: float | None = None,
    timed_out: bool = False,
) -> str:
    """Record a failed attempt; requeue with backoff while attempts are left, else fail.

    Returns the job's new status (queued or failed).
    """
    from handlers.registry import get_handler

    now = timezone.now()
    error = error or "the handler raised an error without a message"
    if retry and job.attempts < job.max_attempts:
        if delay is None:
            spec = get_handler(job.type)
            delay = spec.backoff.delay(job.attempts) if spec is not None else settings.JOBS_BACKOFF_BASE
        _requeue(job, run_at=now + timedelta(seconds=max(0.0, delay)),
                 outcome=Outcome.TIMEOUT if timed_out else Outcome.FAILED,
                 attempt_error=error, attempt_traceback=traceback, error=error, error_traceback=traceback)
        logger.warning("job %s attempt %s/%s failed on %s, retry in %.1fs: %s",
                       job.pk, job.attempts, job.max_attempts, job.worker, delay, error)
        return JobStatus.QUEUED
    _end_execution(
        job, target=JobStatus.FAILED, outcome=Outcome.TIMEOUT if timed_out else Outcome.FAILED_FINAL,
        attempt_error=error, attempt_traceback=traceback, completed_at=now, error=error, error_traceback=traceback,
        actual_duration=(now - (job.started_at or now)).total_seconds(),
    )
    logger.error("job %s failed for good on attempt %s/%s on %s: %s",
                 job.pk, job.attempts, job.max_attempts, job.worker, error)
    return JobStatus.FAILED


def job_fail_hard_timeout(*, job_id: Any, token: Any, limit: float | None) -> str | None:
    """The process running the job was killed at its hard time limit: record the attempt as
    timed out and retry or fail as for any failure. None if the job moved on meanwhile."""
    job = Job.objects.filter(pk=job_id, token=token, status=JobStatus.RUNNING).first()
    if job is None:
        return None
    error = f"timed out: hard time limit of {limit}s exceeded; the process running it was killed"
    return job_fail(job=job, error=error, timed_out=True)


def job_acknowledge_cancel(*, job: Job) -> None:
    """running -> cancelled, once the handler stopped after a cancel request."""
    _end_execution(job, target=JobStatus.CANCELLED, outcome=Outcome.CANCELLED,
                   attempt_error="cancelled while running", completed_at=timezone.now())
    logger.info("job %s cancelled while running on %s", job.pk, job.worker)


def job_release(*, job: Job, reason: str, outcome: str = Outcome.INTERRUPTED, delay: float = 0.0) -> None:
    """running -> queued with a new token, published again: the execution gave the job back
    (its worker is shutting down) without the handler having failed."""
    run_at = timezone.now() + timedelta(seconds=delay) if delay else None
    _requeue(job, run_at=run_at, outcome=outcome, attempt_error=reason)
    logger.warning("job %s released back to queued by %s: %s", job.pk, job.worker, reason)


# --- what users do --------------------------------------------------------------------------


def job_cancel(*, job_id: Any) -> Job:
    """Cancel a queued job now; ask a running one to stop (it ends cancelled at its next
    progress or check). Any other status raises InvalidJobTransition."""
    job_id = parse_job_id(job_id)
    now = timezone.now()
    try:
        with transaction.atomic():
            _transition(job_id, target=JobStatus.CANCELLED, sources=frozenset({JobStatus.QUEUED}),
                        completed_at=now, cancel_requested_at=now)
            gates.admit_on_commit(Job.objects.filter(pk=job_id).values_list("gate", flat=True).first())
    except InvalidJobTransition as miss:
        if miss.current != JobStatus.RUNNING:
            raise
        # not a transition yet: the execution acknowledges it (job_acknowledge_cancel)
        asked = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(cancel_requested_at=now, updated_at=now)
        if not asked:
            raise _explain_miss(job_id, JobStatus.CANCELLED) from None
    logger.info("job %s: cancel requested", job_id)
    return Job.objects.get(pk=job_id)


def job_retry(*, job_id: Any) -> Job:
    """failed or cancelled -> queued, as new: progress 0, error, result and times cleared,
    and a fresh budget of attempts."""
    from handlers.registry import get_handler

    job_id = parse_job_id(job_id)
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise JobNotFound(job_id)
    spec = get_handler(job.type)
    if spec is None and job.status in ALLOWED_FROM[JobStatus.QUEUED]:
        raise InvalidJobTransition(job_id, job.status, JobStatus.QUEUED, f"job type {job.type!r} is not registered")
    budget = spec.max_attempts if spec is not None else job.max_attempts
    now = timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        _transition(
            job_id,
            target=JobStatus.QUEUED,
            sources=frozenset({JobStatus.FAILED, JobStatus.CANCELLED}),
            token=token,
            progress=0,
            progress_message="",
            result=None,
            error="",
            error_traceback="",
            started_at=None,
            completed_at=None,
            heartbeat_at=None,
            cancel_requested_at=None,
            actual_duration=None,
            run_at=None,
            queued_at=now,
            dispatched_at=now if job.gate is None else None,
            rescues=0,
            max_attempts=F("attempts") + budget,
            expires_at=_expiry(spec, now) if spec is not None else None,
        )
        if job.gate is None:
            publishing.publish_on_commit(job, token, None)
        gates.admit_on_commit(job.gate)
    logger.info("job %s retried by request", job_id)
    return Job.objects.get(pk=job_id)


def job_submit(
    *,
    user: Any,
    type: str,
    input: dict[str, Any] | None = None,
    organization: Organization | None = None,
    project: Project | None = None,
    priority: int | None = None,
    run_at: datetime | None = None,
    delay: float | None = None,
    dedup_key: str | None = None,
) -> Job:
    """A person's request for a job (the API's create): `job_create` within the person's quota.

    The quota is counted and the job created in one transaction holding the scope's
    QuotaLock row (`jobs.quotas`), so concurrent requests cannot both take the last unit.
    Raises QuotaExceeded or PayloadTooLarge, and creates nothing, when the job does not fit.
    A deduplicated request returns the existing job, as `job_create` does.

    A dedup key a person gives is scoped to them, or to the organization the job is in
    ("org-3:<key>", "user-5:<key>"): otherwise anyone's queued job holding the same words
    would absorb the request and reveal its id. Keys from a type's template stay global.
    """
    from jobs import quotas

    if project is not None and organization is None:
        organization = project.organization
    if dedup_key is not None:
        dedup_key = validated_dedup_key(dedup_key, max_length=SUBMITTED_DEDUP_KEY_MAX)
        owner = f"org-{organization.pk}" if organization is not None else f"user-{user.pk}"
        dedup_key = f"{owner}:{dedup_key}"
    scope_limit = quotas.max_payload_bytes(organization)
    if scope_limit < settings.JOBS_MAX_PAYLOAD_BYTES and isinstance(input, dict):
        # the organization's lower limit (a second walk, for those organizations only);
        # job_create applies the platform's
        validated_input(input, max_bytes=scope_limit)
    create = dict(type=type, input=input, created_by=user, organization=organization, project=project,
                  priority=priority, run_at=run_at, delay=delay, dedup_key=dedup_key)
    if quotas.is_exempt(user):
        return job_create(**create)
    with transaction.atomic():
        quotas.quota_lock(user=user, organization=organization)
        quotas.quota_status(user=user, organization=organization).raise_if_exceeded()
        return job_create(**create)


def jobs_submit_bulk(
    *,
    user: Any,
    type: str,
    inputs: list[dict[str, Any]],
    organization: Organization | None = None,
    project: Project | None = None,
    priority: int | None = None,
) -> list[Job]:
    """A person's request for many jobs at once: one quota check for the whole batch (every
    window must have room for all of them), then `jobs_create_bulk`; all or nothing."""
    from jobs import quotas

    if project is not None and organization is None:
        organization = project.organization
    scope_limit = quotas.max_payload_bytes(organization)
    if isinstance(inputs, list) and scope_limit < settings.JOBS_MAX_PAYLOAD_BYTES:
        for index, value in enumerate(inputs):
            try:
                if isinstance(value, dict):
                    validated_input(value, max_bytes=scope_limit)  # the organization's lower limit
            except JobValidationError as exc:
                raise JobValidationError(f"inputs[{index}]{exc.field[len('input'):]}", exc.detail) from None
    create = dict(type=type, inputs=inputs, created_by=user, organization=organization, project=project,
                  priority=priority)
    if quotas.is_exempt(user):
        return jobs_create_bulk(**create)
    with transaction.atomic():
        quotas.quota_lock(user=user, organization=organization)
        quota = quotas.quota_status(user=user, organization=organization)
        quota.raise_if_exceeded()
        wanted = len(inputs) if isinstance(inputs, list) else 0
        for window in quota.windows:
            if window.remaining is not None and window.remaining < wanted:
                raise QuotaExceeded(limit=window.limit, period=window.period, scope=quota.scope,
                                    source=window.source, retry_after=float(window.seconds))
        return jobs_create_bulk(**create)


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk action did: the jobs it changed, and why each other one was left alone."""

    changed: list[uuid.UUID]
    refused: list[tuple[uuid.UUID, ConveyorError]]


def _each(job_ids: list[Any], action: Any) -> BulkOutcome:
    changed: list[uuid.UUID] = []
    refused: list[tuple[uuid.UUID, ConveyorError]] = []
    for raw in job_ids:
        job_id = parse_job_id(raw)
        try:
            action(job_id=job_id)
        except ConveyorError as exc:  # one job's refusal does not stop the others
            refused.append((job_id, exc))
        else:
            changed.append(job_id)
    return BulkOutcome(changed=changed, refused=refused)


def jobs_cancel_bulk(*, job_ids: list[Any]) -> BulkOutcome:
    """`job_cancel` for each job, each in its own transaction (queued ones end cancelled,
    running ones are asked to stop)."""
    return _each(job_ids, job_cancel)


def jobs_retry_bulk(*, job_ids: list[Any]) -> BulkOutcome:
    """`job_retry` for each job, each in its own transaction."""
    return _each(job_ids, job_retry)


def job_expire(*, job_id: Any, reason: str) -> None:
    """queued -> failed: the job can never run (its type is gone, it waited too long)."""
    now = timezone.now()
    with transaction.atomic():
        _transition(job_id, target=JobStatus.FAILED, sources=frozenset({JobStatus.QUEUED}), completed_at=now,
                    error=reason, dispatched_at=None)
        gates.admit_on_commit(Job.objects.filter(pk=job_id).values_list("gate", flat=True).first())
    logger.error("job %s expired while queued: %s", job_id, reason)


# --- recovery -------------------------------------------------------------------------------


def job_rescue(*, job_id: Any, token: Any, stale_before: datetime) -> str | None:
    """A running job whose heartbeat is older than stale_before lost its worker: back to
    queued with a new token (or cancelled, if a cancel was asked; or failed, past the rescue
    cap, as a poison pill). Returns the new status, or None if the job moved on meanwhile."""
    from handlers.registry import get_handler

    job = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING, token=token).first()
    if job is None:
        return None
    now = timezone.now()
    guard = Q(token=token, heartbeat_at__lt=stale_before)
    lost = f"worker {job.worker or '?'} stopped heartbeating during attempt {job.attempts}"
    try:
        with transaction.atomic():
            if job.cancel_requested_at is not None:
                _transition(job.pk, target=JobStatus.CANCELLED, sources=frozenset({JobStatus.RUNNING}), guard=guard,
                            completed_at=now, heartbeat_at=None)
                status = JobStatus.CANCELLED
            elif job.rescues >= settings.JOBS_MAX_RESCUES:
                error = f"poison pill: the job lost its worker {job.rescues + 1} times; last: {lost}"
                _transition(job.pk, target=JobStatus.FAILED, sources=frozenset({JobStatus.RUNNING}), guard=guard,
                            completed_at=now, heartbeat_at=None, error=error)
                status = JobStatus.FAILED
            else:
                new_token = uuid.uuid4()
                spec = get_handler(job.type)
                _transition(job.pk, target=JobStatus.QUEUED, sources=frozenset({JobStatus.RUNNING}), guard=guard,
                            token=new_token, rescues=F("rescues") + 1, run_at=None, queued_at=now,
                            dispatched_at=now if job.gate is None else None, heartbeat_at=None,
                            expires_at=_expiry(spec, now) if spec is not None else None)
                if job.gate is None:
                    publishing.publish_on_commit(job, new_token, None)
                status = JobStatus.QUEUED
            _finish_attempt(job, Outcome.LOST, lost)
            gates.admit_on_commit(job.gate)
    except InvalidJobTransition:
        return None  # it heartbeated or finished between our read and our write
    logger.warning("job %s rescued -> %s: %s", job.pk, status, lost)
    return status


def jobs_rescue_stale(*, limit: int = 500) -> int:
    """The rescuer: requeue running jobs whose heartbeat is older than the timeout."""
    stale_before = timezone.now() - timedelta(seconds=settings.JOBS_HEARTBEAT_TIMEOUT)
    stale = list(
        Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=stale_before)
        .order_by("heartbeat_at")
        .values_list("pk", "token")[:limit]
    )
    # a running job with no heartbeat at all was claimed by a worker that died at once
    stale += list(
        Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__isnull=True, updated_at__lt=stale_before)
        .values_list("pk", "token")[:limit]
    )
    rescued = 0
    for job_id, token in stale:
        if job_rescue(job_id=job_id, token=token, stale_before=stale_before) is not None:
            rescued += 1
    return rescued


def jobs_sweep(*, limit: int = 1000) -> int:
    """The sweeper (`jobs.recovery`): publish held jobs once due, admit waiting jobs where
    their limit has room, publish again jobs whose message was lost; then fail queued jobs
    past their queue-wait timeout (`limit` of them per pass). Returns how many jobs got a
    message."""
    now = timezone.now()
    swept = recovery.sweep(now=now)
    overdue = Job.objects.filter(status=JobStatus.QUEUED, expires_at__lte=now).values_list("pk", "expires_at")[:limit]
    for job_id, expires_at in list(overdue):
        try:
            job_expire(job_id=job_id, reason=_queue_timeout_reason(expires_at))
        except InvalidJobTransition:
            pass  # started or cancelled meanwhile
    return swept


# --- system jobs ----------------------------------------------------------------------------


def system_job_send(*, type: str, input: dict[str, Any] | None = None) -> str:
    """Send a system job (no Job row: seed 004's maintenance jobs); returns the Celery task id."""
    from handlers.registry import get_handler, registered_types

    spec = get_handler(type)
    if spec is None or not spec.system:
        raise UnknownJobType(type, registered_types(system=True))
    payload = validated_input(input)
    check_input_schema(spec, payload)
    return dispatch.send_system_job(job_type=type, payload=payload, queue=spec.queue)


# --- retention ------------------------------------------------------------------------------


def jobs_delete_expired(
    *,
    keep_completed_days: float | None = None,
    keep_failed_days: float | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Retention: delete finished jobs past their keep period, and prune django-celery-results.

    Completed and cancelled jobs go JOBS_KEEP_COMPLETED_DAYS after they finished, failed ones
    after JOBS_KEEP_FAILED_DAYS (seed 003 drops completed jobs and keeps failed ones for
    investigation); queued and running jobs are never deleted. TaskResult rows follow the same
    two periods (SUCCESS like completed, anything else like failed). Deletion goes by batches of
    `batch_size` ids, each its own short transaction, so a large backlog never holds one long
    lock and a crash loses only the batch in flight; `max_batches` bounds one call's work.

    Returns the counts deleted: completed, cancelled, failed, task_results, batches.
    """
    from django_celery_results.models import TaskResult

    now = now or timezone.now()
    completed_days = settings.JOBS_KEEP_COMPLETED_DAYS if keep_completed_days is None else keep_completed_days
    failed_days = settings.JOBS_KEEP_FAILED_DAYS if keep_failed_days is None else keep_failed_days
    size = settings.JOBS_CLEANUP_BATCH_SIZE if batch_size is None else batch_size
    for name, value in (("keep_completed_days", completed_days), ("keep_failed_days", failed_days)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise JobValidationError(name, f"must be a finite number of days >= 0, got {value!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise JobValidationError("batch_size", f"must be an integer >= 1, got {size!r}")
    completed_before = now - timedelta(days=completed_days)
    failed_before = now - timedelta(days=failed_days)

    def finished_before(cutoff: datetime) -> Q:
        # completed_at is set by every final transition; updated_at covers rows written otherwise
        return Q(completed_at__lt=cutoff) | Q(completed_at__isnull=True, updated_at__lt=cutoff)

    counts = {"completed": 0, "cancelled": 0, "failed": 0, "task_results": 0, "batches": 0}

    def budget_left() -> bool:
        return max_batches is None or counts["batches"] < max_batches

    plans = (
        ("completed", Q(status=JobStatus.COMPLETED) & finished_before(completed_before)),
        ("cancelled", Q(status=JobStatus.CANCELLED) & finished_before(completed_before)),
        ("failed", Q(status=JobStatus.FAILED) & finished_before(failed_before)),
    )
    for key, condition in plans:
        while budget_left():
            ids = list(Job.objects.filter(condition).order_by().values_list("pk", flat=True)[:size])
            if not ids:
                break
            with transaction.atomic():
                # the condition again: a job retried since the read is queued now and stays
                doomed = Job.objects.filter(condition, pk__in=ids)
                JobAttempt.objects.filter(job__in=doomed.values("pk")).delete()
                deleted = doomed.delete()[1].get(Job._meta.label, 0)
            counts[key] += deleted
            counts["batches"] += 1
            if len(ids) < size:
                break

    results = (
        Q(status="SUCCESS", date_done__lt=completed_before) | (~Q(status="SUCCESS") & Q(date_done__lt=failed_before))
    )
    while budget_left():
        ids = list(TaskResult.objects.filter(results).order_by().values_list("pk", flat=True)[:size])
        if not ids:
            break
        counts["task_results"] += TaskResult.objects.filter(results, pk__in=ids).delete()[0]
        counts["batches"] += 1
        if len(ids) < size:
            break
    if any(counts[key] for key in ("completed", "cancelled", "failed", "task_results")):
        logger.info(
            "retention: deleted %(completed)s completed, %(cancelled)s cancelled and %(failed)s failed job(s), "
            "%(task_results)s task result(s) in %(batches)s batch(es)", counts,
        )
    return counts
