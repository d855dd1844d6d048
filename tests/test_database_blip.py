"""The database goes away while a job runs and comes back: the job still completes.

Runs on a PostgreSQL server of the test's own (initdb into a temporary folder), so the
shared server is never stopped. The worker and the job creation talk to that server; the
test reads it with psycopg.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from config.embedded_redis import free_port
from tests.own_postgres import OwnPostgres, server_bin_dir
from tests.processes import BASE_DIR, ProcessGroup, child_environment, wait_for

pytestmark = [pytest.mark.workers, pytest.mark.slow]

BIN = server_bin_dir()


@pytest.fixture
def own_postgres():
    if BIN is None:
        pytest.skip("stopping PostgreSQL mid-job needs a server of the test's own, and no initdb/pg_ctl was found "
                    "(on PATH or under /usr/lib/postgresql/*/bin)")
    # not under pytest's temporary root: pytest keeps that private (0700) to its own user,
    # and the server may run as another user
    root = Path(tempfile.mkdtemp(prefix="conveyor-own-pg-"))
    server = OwnPostgres(BIN, root, free_port())
    try:
        yield server.init().start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def job_row(url: str, job_id: str) -> tuple | None:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute("SELECT status, attempts, progress FROM jobs_job WHERE id = %s", (job_id,)).fetchone()
    except psycopg.OperationalError:
        return None


def test_a_database_outage_during_a_job_loses_nothing(own_postgres, tmp_path, broker):
    url = own_postgres.url()
    env = child_environment(DATABASE_URL=url)
    manage(env, "migrate", "--noinput", "-v", "0")
    group = ProcessGroup(tmp_path / "logs")
    try:
        worker = group.worker(env={"DATABASE_URL": url})
        group.beat(env={"DATABASE_URL": url})
        job_id = manage(env, "shell", "-c", (
            "from jobs.services import job_create;"
            "print(job_create(type='demo.sleep', input={'seconds': 6, 'steps': 30}).pk)"
        )).strip().splitlines()[-1]
        wait_for(lambda: (row := job_row(url, job_id)) and row[0] == "running" and row[2] > 0,
                 message="the job to be running")
        own_postgres.stop()
        time.sleep(3)
        own_postgres.start()
        own_postgres.wait_ready()
        wait_for(lambda: (row := job_row(url, job_id)) and row[0] == "completed", timeout=120,
                 message="the job to complete after the outage")
        assert "database unavailable" in worker.log()
    except BaseException:
        print(group.logs())
        raise
    finally:
        group.stop_all()
