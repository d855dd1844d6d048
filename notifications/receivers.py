"""The jobs app's signals, as events of the rules they concern.

The jobs app sends `job_failed` and `job_rescued` after the commit of the change, in the
process that made it (a worker, the rescuer); a receiver here only stores the event and, when
the rule's throttle lets it, the deliveries and their jobs: the requests themselves are made
by those jobs on the `notifications` queue, never inside the job that failed. The signals are
sent with `send_robust`, and each rule is handled on its own: nothing here can change the
job, nor keep another rule from hearing of it.
"""
from __future__ import annotations

import logging
from typing import Any

from notifications.kinds import EventKind, EventState
from notifications.selectors import rules_for_job
from notifications.services import event_record

logger = logging.getLogger("conveyor.notifications")

MAX_ERROR_SHOWN = 300


def job_failed_received(sender: Any, *, job_id: str, job_type: str, queue: str, organization_id: int | None,
                        project_id: int | None, attempts: int, error: str = "", reason: str = "",
                        **extra: Any) -> None:
    """A job failed for good: an event of every `job.failed` rule whose scope contains it."""
    first_line = (error or "").strip().splitlines()[0] if (error or "").strip() else "no error message"
    summary = (f"job {job_id} ({job_type}) failed for good after {attempts} attempt(s) "
               f"[{reason or 'handler'}]: {first_line[:MAX_ERROR_SHOWN]}")
    details = {"jobId": job_id, "jobType": job_type, "queue": queue, "organizationId": organization_id,
               "projectId": project_id, "attempts": attempts, "reason": reason, "error": (error or "")[:2000]}
    _record(EventKind.JOB_FAILED, job_id, summary, details,
            rules_for_job(event=EventKind.JOB_FAILED, job_type=job_type, queue=queue,
                          organization_id=organization_id, project_id=project_id))


def job_rescued_received(sender: Any, *, job_id: str, job_type: str, queue: str, organization_id: int | None,
                         project_id: int | None, attempts: int, rescues: int, status: str = "",
                         **extra: Any) -> None:
    """A job lost its worker: an event of every `job.lost` rule whose threshold this loss
    reaches, once per job (at that loss exactly, not at every later one)."""
    rules = [rule for rule in rules_for_job(event=EventKind.JOB_LOST, job_type=job_type, queue=queue,
                                            organization_id=organization_id, project_id=project_id)
             if rescues == int(rule.threshold or 1)]
    then = f", and is now {status}" if status else ""
    summary = f"job {job_id} ({job_type}) lost its worker {rescues} time(s){then}"
    details = {"jobId": job_id, "jobType": job_type, "queue": queue, "organizationId": organization_id,
               "projectId": project_id, "attempts": attempts, "rescues": rescues, "status": status}
    _record(EventKind.JOB_LOST, job_id, summary, details, rules)


def _record(kind: str, job_id: str, summary: str, details: dict[str, Any], rules: Any) -> None:
    for rule in rules:
        try:
            event_record(rule_id=rule.pk, kind=kind, state=EventState.FIRING, key=f"job:{job_id}", summary=summary,
                         details=details)
        except Exception:  # this rule's event is lost; the others' must not be
            logger.exception("rule %s: the %s event of job %s could not be recorded", rule.pk, kind, job_id)
