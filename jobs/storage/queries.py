"""Every hand-written SQL statement of the jobs app, each named and documented here.

The ORM writes everything else. These few are written by hand because they are on every job's
path and one statement does the work of several (the claim inserts its attempt, the completion
closes it and may store Celery's result row), or because the ORM has no word for them (COPY,
an advisory lock). Each is built from the models' table and column names and from the status
table of `jobs.states`: a guard reads `ALLOWED_FROM[target]`, and tests/unit/test_storage_queries.py
checks that the text says the same.

Statements run through `jobs.storage.prepared`, which prepares them once per connection on
PostgreSQL. Identifiers are quoted as standard SQL quotes them (PostgreSQL and SQLite alike).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from django.db import connection, connections, transaction
from django_celery_results.models import TaskResult

from jobs.models import Job, JobAttempt, Pause, PauseKind
from jobs.states import ALLOWED_FROM, AttemptOutcome, JobStatus
from jobs.storage import prepared


def _quote(name: Any) -> str:
    return f'"{name}"'


def status_in(statuses: Iterable[str]) -> str:
    """`('queued', 'running')`: a set of statuses as SQL literals (enum values, never user input)."""
    return "(" + ", ".join(f"'{JobStatus(status).value}'" for status in sorted(statuses)) + ")"


JOB_TABLE = _quote(Job._meta.db_table)
ATTEMPT_TABLE = _quote(JobAttempt._meta.db_table)
PAUSE_TABLE = _quote(Pause._meta.db_table)

# what a claim and a completion start from: the status table's, never restated
CLAIM_FROM = ALLOWED_FROM[JobStatus.RUNNING]
COMPLETE_FROM = ALLOWED_FROM[JobStatus.COMPLETED]

# each field's quoted column, by field name: J["started_at"] is '"started_at"'
J = {field.name: _quote(field.column) for field in Job._meta.concrete_fields}
A = {field.name: _quote(field.column) for field in JobAttempt._meta.concrete_fields}
P = {field.name: _quote(field.column) for field in Pause._meta.concrete_fields}

# the columns a claim returns: what an execution reads of its job
_CLAIMED = [J[name] for name in (
    "id", "type", "queue", "input", "priority", "attempts", "max_attempts", "rescues", "token", "started_at",
    "cancel_requested_at", "concurrency_key", "gate", "dispatched_at", "created_by", "organization", "project",
    "worker", "run_at", "queued_at",
)]

CLAIM = f"""
UPDATE {JOB_TABLE}
   SET {J['status']} = '{JobStatus.RUNNING.value}', {J['attempts']} = {J['attempts']} + 1,
       {J['started_at']} = %s, {J['heartbeat_at']} = %s, {J['updated_at']} = %s, {J['worker']} = %s,
       {J['completed_at']} = NULL
 WHERE {J['id']} = %s AND {J['status']} IN {status_in(CLAIM_FROM)} AND {J['token']} = %s
   AND ({J['expires_at']} IS NULL OR {J['expires_at']} > %s)
   AND NOT EXISTS (
     SELECT 1 FROM {PAUSE_TABLE} p
      WHERE ((p.{P['kind']} = '{PauseKind.TYPE.value}' AND p.{P['name']} = {JOB_TABLE}.{J['type']})
             OR (p.{P['kind']} = '{PauseKind.QUEUE.value}' AND p.{P['name']} = {JOB_TABLE}.{J['queue']}))
        AND (p.{P['until']} IS NULL OR p.{P['until']} > %s))
RETURNING {", ".join(_CLAIMED)}
"""
"""queued -> running for the execution holding the message's token, unless the job waited past
its queue-wait timeout or its type or queue is paused (the pause is read by this statement, so
that every worker obeys it from its next delivery). Parameters: now, now, now, worker, job id,
token, now, now. No row: a stale or duplicate message, an expired job or a paused one, which
claims nothing."""

CLAIM_WITH_ATTEMPT = f"""
WITH claimed AS ({CLAIM.strip()}),
     attempt AS (
       INSERT INTO {ATTEMPT_TABLE} ({A['job']}, {A['number']}, {A['worker']}, {A['started_at']}, {A['outcome']},
                                {A['error']}, {A['error_traceback']})
       SELECT {J['id']}, {J['attempts']}, {J['worker']}, {J['started_at']}, '{AttemptOutcome.RUNNING.value}', '', ''
         FROM claimed
     )
SELECT * FROM claimed
"""
"""CLAIM with the new attempt's row inserted by the same statement (PostgreSQL): one round
trip, one commit per claim."""

COMPLETE_WITH_ATTEMPT = f"""
WITH done AS (
  UPDATE {JOB_TABLE}
     SET {J['status']} = '{JobStatus.COMPLETED.value}', {J['updated_at']} = %(now)s, {J['result']} = %(result)s,
         {J['progress']} = 100, {J['completed_at']} = %(now)s, {J['heartbeat_at']} = NULL,
         {J['actual_duration']} = %(duration)s, {J['error']} = '', {J['error_traceback']} = '',
         {J['error_group']} = ''
   WHERE {J['id']} = %(id)s AND {J['status']} IN {status_in(COMPLETE_FROM)} AND {J['token']} = %(token)s
  RETURNING {J['id']}, {J['attempts']}
), attempt AS (
  UPDATE {ATTEMPT_TABLE}
     SET {A['finished_at']} = %(now)s, {A['outcome']} = '{AttemptOutcome.COMPLETED.value}', {A['error']} = '',
         {A['error_traceback']} = ''
    FROM done
   WHERE {ATTEMPT_TABLE}.{A['job']} = done.{J['id']} AND {ATTEMPT_TABLE}.{A['number']} = done.{J['attempts']}
){{stored}}
SELECT {J['id']} FROM done
"""
"""running -> completed for the execution holding the token, and its attempt closed, in one
statement (PostgreSQL). `{stored}` is empty, or `, stored AS (<TASK_RESULT_UPSERT>)` to write
Celery's result row too. No row: this execution no longer owns the job."""

GATE_LOCK = "SELECT pg_advisory_xact_lock(%s)"
"""Serialize the admissions of one job type until the transaction ends (PostgreSQL); the
parameter is a 64-bit key derived from the type (`jobs.services.gates`)."""


def _insert_sql(fields: Sequence[Any]) -> str:
    return (f"INSERT INTO {JOB_TABLE} ({', '.join(_quote(field.column) for field in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})")


INSERT_JOB = _insert_sql(Job._meta.concrete_fields)
"""A new job's row, every column given: `job.save(force_insert=True)` without compiling the
same INSERT for every job (about 0.1 ms of CPU each)."""

def copy_into_jobs(columns: Sequence[str]) -> str:
    """COPY of many new jobs' rows, giving these columns (the others take their defaults)."""
    return f"COPY {JOB_TABLE} ({', '.join(_quote(column) for column in columns)}) FROM STDIN"


COPY_JOBS = copy_into_jobs([str(field.column) for field in Job._meta.concrete_fields])
"""Many new jobs' rows in one COPY, every column given (PostgreSQL)."""

ANALYZE_JOBS = f"ANALYZE {JOB_TABLE}"
"""Fresh planner statistics for the jobs table, after a bulk load (allowed in a transaction)."""

VACUUM_ANALYZE_JOBS = f"VACUUM {ANALYZE_JOBS}"
"""ANALYZE_JOBS and the visibility map too (PostgreSQL, outside a transaction only)."""

ESTIMATED_ROWS = "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)"
"""PostgreSQL's planner estimate of a table's rows (the parameter: its name); negative for a
table never vacuumed or analyzed."""


def task_result_columns() -> list[Any]:
    """The fields of Celery's result row that an upsert writes (all but the id)."""
    return [f for f in TaskResult._meta.concrete_fields if not f.primary_key]


@lru_cache(maxsize=8)
def _task_result_upsert_template(update: tuple[str, ...], source: str) -> tuple[str, list[Any]]:
    fields = task_result_columns()
    columns = ", ".join(_quote(f.column) for f in fields)
    # an explicit cast to varchar(255) cuts a longer value (a worker's host name, say), as the
    # claim cuts the worker's name: Celery's bookkeeping must never fail a job's completion
    values = ", ".join(f"CAST(%(tr_{f.column})s AS {f.db_type(connection)})" for f in fields)
    updated = [_quote(TaskResult._meta.get_field(name).column) for name in update]
    task_id = _quote(TaskResult._meta.get_field("task_id").column)
    sql = (f"INSERT INTO {_quote(TaskResult._meta.db_table)} ({columns}) SELECT {values} FROM {source} "
           f"ON CONFLICT ({task_id}) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in updated)}")
    return sql, fields


def task_result_upsert(row: TaskResult, update: list[str], source: str) -> tuple[str, dict[str, Any]]:
    """TASK_RESULT_UPSERT: INSERT ... SELECT ... FROM `source` ON CONFLICT (task_id) DO UPDATE
    of Celery's result row, with named parameters `tr_<column>`: a part of a larger statement
    (the completion's, PostgreSQL). Each value is cast to its column's type, so that the
    statement can be prepared."""
    sql, fields = _task_result_upsert_template(tuple(update), source)
    return sql, {f"tr_{f.column}": f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields}


# --- running them ----------------------------------------------------------------------------


def insert_job(job: Job) -> None:
    """INSERT_JOB for an unsaved job; each value goes through its field's pre_save and
    get_db_prep_save as in save()."""
    job._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]  # refuses an unsaved user, org or project
    db = transaction.get_connection()  # the connection itself: each use of the proxy is a lookup
    params = []
    for field in Job._meta.concrete_fields:
        value = field.pre_save(job, True)
        params.append(None if value is None else field.get_db_prep_save(value, db))
    with prepared.prepared_cursor() as cursor:
        cursor.execute(INSERT_JOB, params)
    job._state.adding = False
    job._state.db = db.alias


def copy_jobs(jobs: list[Job]) -> None:
    """COPY_JOBS for unsaved jobs (PostgreSQL). Each value is sent as Django would send it
    (get_db_prep_save); a column whose value is the same object in every job (the type, the
    timestamps, an input given once for all) is prepared once."""
    for job in jobs:
        job._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
    db = transaction.get_connection()
    fields = Job._meta.concrete_fields
    template: list[Any] = []
    varying: list[tuple[int, Any]] = []
    first = jobs[0]
    for position, field in enumerate(fields):
        value = getattr(first, field.attname)
        if all(getattr(job, field.attname) is value for job in jobs):
            template.append(field.get_db_prep_save(value, db))
        else:
            template.append(None)
            varying.append((position, field))
    with db.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no COPY
        with db.wrap_database_errors, raw.copy(COPY_JOBS) as copy:
            for job in jobs:
                row = template.copy()
                for position, field in varying:
                    row[position] = field.get_db_prep_save(getattr(job, field.attname), db)
                copy.write_row(row)
    for job in jobs:
        job._state.adding = False
        job._state.db = db.alias


def claim_job(*, job_id: Any, token: Any, worker: str, now: Any, with_attempt: bool) -> Job | None:
    """CLAIM (or CLAIM_WITH_ATTEMPT): the claimed job as an instance holding the returned
    columns, or None when nothing was claimed."""
    id_field = Job._meta.get_field("id")
    when = connection.ops.adapt_datetimefield_value(now)
    params = [
        when, when, when, worker,
        id_field.get_db_prep_value(job_id, connection),
        id_field.get_db_prep_value(token, connection),
        when,
        when,
    ]
    with prepared.prepared_cursor() as cursor:
        cursor.execute(CLAIM_WITH_ATTEMPT if with_attempt else CLAIM, params)
        return prepared.fetch_model(cursor, Job)


def complete_job(*, job: Job, result: Any, duration: float, now: Any, stored: str = "",
                 stored_params: dict[str, Any] | None = None) -> bool:
    """COMPLETE_WITH_ATTEMPT; `stored` and `stored_params` add Celery's result row. True when
    the job's row was completed by this statement."""
    id_field = Job._meta.get_field("id")
    params = {
        "now": now,
        "result": Job._meta.get_field("result").get_db_prep_value(result, connection),
        "duration": duration,
        "id": id_field.get_db_prep_value(job.pk, connection),
        "token": id_field.get_db_prep_value(job.token, connection),
        **(stored_params or {}),
    }
    with prepared.prepared_cursor() as cursor:
        cursor.execute(COMPLETE_WITH_ATTEMPT.format(stored=stored), params)
        return cursor.fetchone() is not None


def estimated_rows(table: str, using: str = "default") -> int | None:
    """ESTIMATED_ROWS for `table` on the `using` database, or None where there is no estimate:
    another database than PostgreSQL, or a table never vacuumed or analyzed."""
    db = connections[using]
    if db.vendor != "postgresql":
        return None
    with db.cursor() as cursor:
        cursor.execute(ESTIMATED_ROWS, [table])
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


def lock_gate(key: int) -> None:
    """GATE_LOCK, held until the current transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(GATE_LOCK, [key])
