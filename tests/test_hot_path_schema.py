"""What the worker's writes cost PostgreSQL: indexes written per job, HOT updates."""
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
    for _ in range(3):
        job = make_job()
        claimed = services.job_claim(job_id=job.pk, token=job.token, worker="w")
        services.job_complete(job=claimed, result=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'jobs_jobattempt'")
        updated, hot = cursor.fetchone()
    assert updated == 3 and hot == 3
