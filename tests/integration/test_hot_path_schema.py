"""What the worker's writes cost PostgreSQL: indexes written per job, HOT updates."""
from __future__ import annotations

import pytest
from django.db import connection

from jobs import services
from tests.factories import make_job

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL storage details")]


def _indexes(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return [row[0] for row in cursor.fetchall()]


def test_attempts_have_no_index_that_another_one_covers():
    definitions = _indexes("jobs_jobattempt")
    assert len(definitions) == 2, definitions  # the primary key and the unique (job_id, number)
    assert any("UNIQUE" in d and "(job_id, number)" in d for d in definitions)


def test_an_attempts_outcome_is_a_hot_update():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'jobs_jobattempt'")
        assert "fillfactor=80" in (cursor.fetchone()[0] or [])
    before = _attempt_updates()
    for _ in range(3):
        job = make_job()
        claimed = services.job_claim(job_id=job.pk, token=job.token, worker="w")
        services.job_complete(job=claimed, result=None)
    updated, hot = (after - then for after, then in zip(_attempt_updates(), before))
    assert updated == 3 and hot == 3


def _attempt_updates() -> tuple[int, int]:
    """This transaction's updates of attempt rows so far, and how many of them were HOT."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                       "WHERE relname = 'jobs_jobattempt'")
        return cursor.fetchone()


def test_only_jobs_with_a_queue_wait_timeout_have_an_expiry_entry_and_the_scan_still_uses_it():
    from datetime import timedelta

    from django.utils import timezone

    from jobs.models import Job

    assert any("job_queued_expiring_idx" in d and "expires_at IS NOT NULL" in d for d in _indexes("jobs_job"))
    now = timezone.now()
    for _ in range(200):
        make_job()
    make_job(expires_at=now - timedelta(seconds=1))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_job")
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned whole
        sql, params = Job.objects.filter(status="queued", expires_at__lte=now).values_list("pk").query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "job_queued_expiring_idx" in plan, plan
