"""A delivery of run_job whose claim cannot reach the database waits for it in place.

While the database is down no job can be claimed anyway, so holding the message costs
nothing; handing it back at once would only spin it through Redis, a failed claim and a log
line at a time. The delivery probes the database with a backoff capped at 2 s
(`jobs.worker.outage`). The wait is bounded: after _CLAIM_WAIT_LIMIT seconds (or at once in a
worker being stopped, which a solo worker can see; a prefork child cannot, so the bound also
caps how long it holds up a warm shutdown) the same message is published again with a
countdown and this one acked. Its next delivery, on any worker, is harmless whatever
happened meanwhile: the claim needs the job's token and its queued status. The new message
carries when the job began to wait, so that the same outage is announced once.

self.retry() is not used: Celery writes RETRY (and, when the retry cannot be sent, FAILURE)
through the result backend, that is, to the database that is down.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.worker import state as worker_state

from jobs.storage.result_backend import DeliveryResult, ResultBackend
from jobs.worker import outage, run

logger = logging.getLogger("conveyor.worker")

_CLAIM_WAIT_LIMIT = 30.0
_OFFER_AGAIN_COUNTDOWN = 10.0


def deliver(task: Task, job_id: str, token: str, job_type: str | None) -> dict[str, Any]:
    """Run the delivery of run_job that `task` is executing (see the module's docstring)."""
    task_result = _task_result(task)
    deadline = time.monotonic() + _CLAIM_WAIT_LIMIT
    since = _waiting_since(task.request)
    if since is not None:  # offered again by a delivery that waited: the same outage, announced then
        outage.resume(job_id, since)
    try:
        while True:
            try:
                if outage.waiting(job_id):
                    outage.probe()
                    outage.reachable(job_id)
                return run.execute(job_id, token, worker=task.request.hostname or "unknown",
                                   job_type=job_type, task_result=task_result)
            except outage.OutcomeNotRecorded as exc:
                logger.error("%s; once it is back, the rescuer puts the job back to queued", exc)
                return {"job": job_id, "outcome": "unrecorded"}
            except outage.DATABASE_ERRORS as exc:
                # The claim (or what precedes it) could not reach the database; the outcome
                # has its own wait in jobs.worker.run and ends in OutcomeNotRecorded instead.
                outage.unavailable(job_id, "to be claimed", exc)
                if not outage.wait_until_reachable(job_id, deadline, stop=_worker_stopping):
                    return _offer_again(task, job_id, token)
    finally:
        outage.forget(job_id)


def _task_result(task: Task) -> DeliveryResult | None:
    """The delivery's Celery result, which the completion stores with the job when it can."""
    backend, request = task.backend, task.request
    if isinstance(backend, ResultBackend) and request.id and not (task.ignore_result or request.ignore_result):
        return DeliveryResult(backend, request.id, request)
    return None


def _waiting_since(request: Any) -> float | None:
    value = getattr(request, outage.WAIT_HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(outage.WAIT_HEADER)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _worker_stopping() -> bool:
    return worker_state.should_stop not in (None, False) or worker_state.should_terminate not in (None, False)


def _offer_again(task: Task, job_id: str, token: str) -> dict[str, Any]:
    """Publish this delivery's message again in _OFFER_AGAIN_COUNTDOWN seconds; this one is acked."""
    request = task.request
    info = request.delivery_info or {}
    limits = request.timelimit or (None, None)
    since = outage.waiting_since(job_id) or time.time()
    try:
        task.apply_async(args=[job_id, token], kwargs=request.kwargs or {}, countdown=_OFFER_AGAIN_COUNTDOWN,
                         queue=info.get("routing_key"), priority=info.get("priority"),
                         time_limit=limits[0], soft_time_limit=limits[1], headers={outage.WAIT_HEADER: since})
    except Exception as exc:  # Redis is down too: the job is queued in the database, the sweeper's
        logger.warning("job %s: still no database, and its message could not be offered again (%s); "
                       "the sweeper will publish it", job_id, exc)
        return {"job": job_id, "outcome": "unsent"}
    logger.debug("job %s: still no database; its message is offered again in %.0fs", job_id, _OFFER_AGAIN_COUNTDOWN)
    return {"job": job_id, "outcome": "waiting", "retryIn": _OFFER_AGAIN_COUNTDOWN}
