"""Commits that do not wait for the disk, in worker processes only.

A worker commits twice per job (the claim, the outcome with Celery's result) and each commit
waited for a WAL flush, most of a job's time on an idle handler. With synchronous_commit off,
PostgreSQL still applies every commit at once and in order; a crash of PostgreSQL itself can
forget the last few hundred milliseconds of them, always a consistent prefix. That is a state
the platform already recovers from: a claim or outcome that was forgotten leaves the job
running (the rescuer requeues it) or queued (the sweeper publishes it again), and a message
for a forgotten row claims nothing. Jobs are created durably wherever they are created from
the web or the command line; a job created by a handler shares its parent's fate (a parent
forgotten with it runs again).

A schedule's tick is committed durably all the same (`commit_durably`): the untracked job it
sends has no row and no token that would make a second run harmless.

Behind a connection pooler in transaction mode, the session's setting would follow the
server connection to other clients: set JOBS_WORKER_SYNCHRONOUS_COMMIT=1 there (and, on the
database side, `ALTER ROLE worker_role SET synchronous_commit = off` for a role of the
workers' own gives the same speed). With synchronous standbys, commits do not wait for them
either.

JOBS_WORKER_SYNCHRONOUS_COMMIT=1 keeps every commit durable.
"""
from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.backends.signals import connection_created

from jobs.conf import conf

# set once in a worker's main process before the pool forks (jobs.worker.session): its
# children inherit it; web and command-line processes never set it
_in_worker = False


def relax_commits_in_this_process() -> None:
    """From now on this process's PostgreSQL sessions commit without waiting for the disk
    (unless JOBS_WORKER_SYNCHRONOUS_COMMIT)."""
    global _in_worker
    _in_worker = True


def _relaxed(conn: Any) -> bool:
    """Whether this process's commits on `conn` skip the disk (see above)."""
    return _in_worker and conn.vendor == "postgresql" and not conf.worker_synchronous_commit


@connection_created.connect
def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _relaxed(connection):
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")


def commit_durably() -> None:
    """Inside a transaction block: this transaction's commit waits for the disk even on a
    worker. For work that has effects outside the database that no token guards, such as a
    schedule's tick, whose untracked job would run again if PostgreSQL forgot the tick."""
    if _relaxed(connection):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO on")
