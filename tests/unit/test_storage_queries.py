"""The hand-written statements (`jobs.storage.queries`) say what `jobs.states` says: each guard is
the status table's ALLOWED_FROM for its target, each status or outcome written is an enum value,
and the tables are the models'. No database needed."""
from __future__ import annotations

import re

from jobs.models import Job, JobAttempt, Pause, PauseKind
from jobs.states import ALLOWED_FROM, AttemptOutcome, JobStatus
from jobs.storage import queries

_JOB_STATUS = re.escape(queries.J["status"])


def guard(sql: str) -> set[str]:
    """The statuses in `WHERE ... "status" IN ('a', 'b')` of the statement's job UPDATE."""
    [found] = re.findall(rf"WHERE .*?{_JOB_STATUS} IN \(([^)]*)\)", sql, flags=re.S)
    return {value.strip().strip("'") for value in found.split(",")}


def target(sql: str) -> str:
    [found] = re.findall(rf"SET {_JOB_STATUS} = '([a-z_]+)'", sql)
    return found


def test_the_claim_enters_running_from_what_the_table_allows() -> None:
    for sql in (queries.CLAIM, queries.CLAIM_WITH_ATTEMPT):
        assert target(sql) == JobStatus.RUNNING
        assert guard(sql) == set(ALLOWED_FROM[JobStatus.RUNNING]) == {JobStatus.QUEUED}
    assert f"'{AttemptOutcome.RUNNING.value}'" in queries.CLAIM_WITH_ATTEMPT


def test_the_completion_enters_completed_from_what_the_table_allows() -> None:
    sql = queries.COMPLETE_WITH_ATTEMPT
    assert target(sql) == JobStatus.COMPLETED
    assert guard(sql) == set(ALLOWED_FROM[JobStatus.COMPLETED]) == {JobStatus.RUNNING}
    assert f"= '{AttemptOutcome.COMPLETED.value}'" in sql


def test_every_status_and_outcome_literal_is_an_enum_value() -> None:
    statements = [queries.CLAIM, queries.CLAIM_WITH_ATTEMPT, queries.COMPLETE_WITH_ATTEMPT]
    for sql in statements:
        for literal in re.findall(r"'([a-z_]+)'", sql):
            known = (*JobStatus.values, *AttemptOutcome.values, *PauseKind.values)
            assert literal in known, (literal, sql)


def test_the_claim_reads_the_pause_table_by_its_models_names() -> None:
    assert f'"{Pause._meta.db_table}"' == queries.PAUSE_TABLE
    for name in ("kind", "name", "until"):
        assert queries.P[name] in queries.CLAIM
    assert f"'{PauseKind.TYPE.value}'" in queries.CLAIM and f"'{PauseKind.QUEUE.value}'" in queries.CLAIM


def test_the_statements_name_the_models_tables() -> None:
    assert f'"{Job._meta.db_table}"' == queries.JOB_TABLE
    assert f'"{JobAttempt._meta.db_table}"' == queries.ATTEMPT_TABLE
    for sql in (queries.CLAIM, queries.COMPLETE_WITH_ATTEMPT, queries.INSERT_JOB, queries.COPY_JOBS):
        assert queries.JOB_TABLE in sql
    for field in Job._meta.concrete_fields:
        assert f'"{field.column}"' in queries.INSERT_JOB


def test_status_in_writes_sorted_enum_literals_and_refuses_anything_else() -> None:
    assert queries.status_in({JobStatus.RUNNING, JobStatus.QUEUED}) == "('queued', 'running')"
    try:
        queries.status_in({"queued'; DROP TABLE jobs_job; --"})
    except ValueError:
        pass
    else:
        raise AssertionError("a value that is not a status must be refused")


def test_the_attempt_outcomes_are_one_enum() -> None:
    assert JobAttempt.Outcome is AttemptOutcome
    assert JobAttempt._meta.get_field("outcome").choices == AttemptOutcome.choices
