"""Hand committed jobs to the broker, or hold them in the database when it cannot take them.

1. A job's message goes out only once the transaction that made the job runnable commits
   (`transaction.on_commit`): a worker never sees a job its database does not hold yet.
2. A publish that fails (Redis down, or a timeout) holds the job: dispatched_at NULL, so that
   the sweeper publishes it again with a new token; a message that reached Redis after all
   then claims nothing. Never lost, and never a 500 for the request that created it.
3. Long delays never ride in the broker (Redis redelivers ETA messages past its visibility
   timeout): a job due later than JOBS_BROKER_COUNTDOWN_MAX is held until the sweeper sees it
   due.
"""
from __future__ import annotations

import logging
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q

from jobs.conf import conf
from jobs.models import Job
from jobs.publishing.broker import PublishIncomplete, RunJobMessage, send_run_job, send_run_jobs
from jobs.states import JobStatus
from telemetry import metrics

logger = logging.getLogger("conveyor.jobs")


def dispatch_plan(run_at: datetime | None, now: datetime) -> tuple[datetime | None, float | None]:
    """(dispatched_at, countdown) for a job due at run_at: long delays stay in the database."""
    if run_at is None or run_at <= now:
        return now, None
    delay = (run_at - now).total_seconds()
    if delay <= conf.broker_countdown_max:
        return now, delay
    return None, None


def publish_on_commit(job: Job, token: uuid.UUID, countdown: float | None) -> None:
    """Publish run_job(job, token) once the current transaction commits (at once outside one)."""
    job_id, job_type, queue, priority = job.pk, job.type, job.queue, job.priority

    def publish() -> None:
        try:
            send_run_job(job_id=job_id, token=token, job_type=job_type, queue=queue, priority=priority,
                         countdown=countdown)
        except Exception as exc:  # the broker is down: hold the job for the sweeper
            metrics.PUBLISH_ERRORS.inc(queue=queue)
            logger.warning("job %s: publish failed (%s); held for the sweeper", job_id, exc)
            hold([job_id], token=token)

    transaction.on_commit(publish)


def publish_many_on_commit(messages: list[RunJobMessage]) -> None:
    """Publish many run_job messages after the commit, a Redis pipeline per thousand; those
    the broker did not take are held for the sweeper."""
    transaction.on_commit(lambda: _publish_many(messages))


def _publish_many(messages: list[RunJobMessage]) -> None:
    try:
        send_run_jobs(messages)
    except PublishIncomplete as exc:
        unsent = [message[0] for message in messages[exc.sent:]]
        for queue, count in Counter(message[3] for message in messages[exc.sent:]).items():
            metrics.PUBLISH_ERRORS.inc(count, queue=queue)
        logger.warning("bulk publish: the broker failed after %s of %s jobs (%s); the other %s are held for "
                       "the sweeper", exc.sent, len(messages), exc.cause, len(unsent))
        hold(unsent)
    except Exception as exc:  # an inline run (tests) that raised
        logger.warning("bulk publish of %s jobs failed (%s); the sweeper will recover them", len(messages), exc)


def hold(job_ids: list[Any], *, token: uuid.UUID | None = None) -> None:
    """Leave queued jobs to the sweeper: it publishes held jobs once due, with a new token,
    so that a message that did reach Redis after all claims nothing. With `token`, only while
    the job still has it (a job given a new token meanwhile has a new message)."""
    guard = Q(status=JobStatus.QUEUED) if token is None else Q(status=JobStatus.QUEUED, token=token)
    try:
        for start in range(0, len(job_ids), 1000):
            Job.objects.filter(guard, pk__in=job_ids[start:start + 1000]).update(dispatched_at=None)
    except Exception:
        logger.exception("job(s) %s could not be marked as held; the sweeper will find their message lost",
                         ", ".join(str(pk) for pk in job_ids[:5]) + (" ..." if len(job_ids) > 5 else ""))
