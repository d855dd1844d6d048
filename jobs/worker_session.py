"""The database session of worker processes: commits that do not wait for the disk.

A worker writes three times per job (claim, outcome, Celery's result) and each commit waited
for a WAL flush, most of a job's time on an idle handler. With synchronous_commit off,
PostgreSQL still applies every commit at once and in order; a crash of PostgreSQL itself can
forget the last few hundred milliseconds of them, always a consistent prefix. That is a state
the platform already recovers from: a claim or outcome that was forgotten leaves the job
running (the rescuer requeues it) or queued (the sweeper publishes it again), and a message
for a forgotten row claims nothing. Jobs are created durably wherever they are created from
the web or the command line; a job created by a handler shares its parent's fate (a parent
forgotten with it runs again).

JOBS_WORKER_SYNCHRONOUS_COMMIT=1 keeps every commit durable.
"""
from __future__ import annotations

from typing import Any

from celery import signals
from django.conf import settings
from django.db.backends.signals import connection_created

_in_worker = False


@signals.worker_init.connect
def _on_worker_init(**kwargs: Any) -> None:
    # the main process, before the pool forks: its children inherit the flag
    global _in_worker
    _in_worker = True


@connection_created.connect
def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _in_worker and connection.vendor == "postgresql" and not settings.JOBS_WORKER_SYNCHRONOUS_COMMIT:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
