"""A job's timeline: everything that happened to it, oldest first, from what the platform
keeps: the row's times, one JobAttempt per execution, and the audit log's entries about it.

    created           the job was created (by whom, on which queue)
    attempt           an execution: worker, start, duration, outcome, error and traceback
    rescued           its worker stopped heartbeating; the rescuer requeued it
    cancel_requested  a cancel was asked while it ran
    queued            its last return to the queue (a retry, a rescue, a backoff), when nothing
                      else explains it
    finished          completed, failed or cancelled
    audit             an operator's action: who, through which door, from where, why

Three reads whatever the job's history: the job (the caller has it), its attempts, and its
newest audit entries (`audit_entries_for`, on its index).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from audit.models import AuditEntry
from audit.selectors import audit_entries_for
from jobs.models import Job, JobAttempt
from jobs.states import AttemptOutcome, JobStatus

AUDIT_ENTRIES_SHOWN = 200
# a return to the queue this close to another event is that event's doing
_SAME_MOMENT = timedelta(seconds=1)
# order of events that share a moment
_ORDER = {"created": 0, "audit": 1, "attempt": 2, "cancel_requested": 3, "rescued": 4, "queued": 5, "finished": 6}


@dataclass(frozen=True)
class Event:
    """One moment of a job's life, as the page shows it."""

    at: datetime
    kind: str
    title: str
    detail: str = ""
    tone: str = ""  # "ok", "error", "warning", "": the colour of its mark
    attempt: JobAttempt | None = None
    worker: str = ""
    duration: float | None = None
    error: str = ""
    traceback: str = ""
    actor: str = ""
    source: str = ""
    address: str = ""
    reason: str = ""

    @property
    def key(self) -> str:
        """An id for the page (a traceback's open state survives a live refresh by it)."""
        return f"{self.kind}-{self.attempt.number if self.attempt is not None else int(self.at.timestamp() * 1000)}"


def job_timeline(*, job: Job, attempts: list[JobAttempt] | None = None) -> list[Event]:
    """Every event of `job`, oldest first. Pass `attempts` when already read."""
    if attempts is None:
        attempts = list(JobAttempt.objects.filter(job_id=job.pk).order_by("number"))
    events = [_created(job)]
    for attempt in attempts:
        events.append(_attempt(attempt))
        if attempt.outcome == AttemptOutcome.LOST and attempt.finished_at is not None:
            events.append(Event(at=attempt.finished_at, kind="rescued", tone="warning",
                                title=f"Rescued: attempt {attempt.number} lost its worker",
                                detail=f"{attempt.error or 'its worker stopped heartbeating'}; back to queued"))
    events += [_audit(entry) for entry in audit_entries_for(target_kind="job", target_id=job.pk,
                                                            limit=AUDIT_ENTRIES_SHOWN)]
    if job.cancel_requested_at is not None and job.cancel_requested_at != job.completed_at:
        events.append(Event(at=job.cancel_requested_at, kind="cancel_requested", tone="warning",
                            title="Cancel requested",
                            detail="a running job stops at its next progress report or cancel check"))
    finished = _finished(job, attempts)
    if finished is not None:
        events.append(finished)
    if job.queued_at is not None and not any(abs(event.at - job.queued_at) <= _SAME_MOMENT for event in events):
        events.append(Event(at=job.queued_at, kind="queued", title="Queued again",
                            detail="its last return to the queue (a retry, a rescue or a release)"))
    return sorted(events, key=lambda event: (event.at, _ORDER.get(event.kind, 9)))


def _created(job: Job) -> Event:
    by = f" by {job.created_by}" if job.created_by_id is not None else ""
    return Event(at=job.created_at, kind="created", title=f"Created{by}",
                 detail=f"type {job.type}, queue {job.queue}, priority {job.priority}"
                        + (f", due at {job.run_at:%Y-%m-%d %H:%M:%S %Z}" if job.run_at and job.attempts == 0 else ""))


_ATTEMPT_TONE: dict[str, str] = {
    AttemptOutcome.COMPLETED: "ok", AttemptOutcome.RUNNING: "", AttemptOutcome.CANCELLED: "warning",
    AttemptOutcome.INTERRUPTED: "warning", AttemptOutcome.LOST: "warning",
}


def _attempt(attempt: JobAttempt) -> Event:
    running = attempt.outcome == AttemptOutcome.RUNNING
    title = f"Attempt {attempt.number}" + (" running" if running else f": {attempt.get_outcome_display()}")
    return Event(at=attempt.started_at, kind="attempt", title=title, tone=_ATTEMPT_TONE.get(attempt.outcome, "error"),
                 attempt=attempt, worker=attempt.worker, duration=attempt.duration, error=attempt.error,
                 traceback=attempt.error_traceback)


def _finished(job: Job, attempts: list[JobAttempt]) -> Event | None:
    if job.completed_at is None or job.status not in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
        return None
    if job.status == JobStatus.COMPLETED:
        return Event(at=job.completed_at, kind="finished", title="Completed", tone="ok", duration=job.actual_duration)
    if job.status == JobStatus.FAILED:
        # the last attempt already shows the traceback it ended with
        shown = attempts[-1].error_traceback if attempts else ""
        return Event(at=job.completed_at, kind="finished", title="Failed", tone="error", error=job.error,
                     traceback="" if job.error_traceback == shown else job.error_traceback)
    return Event(at=job.completed_at, kind="finished", title="Cancelled", tone="warning")


def _audit(entry: AuditEntry) -> Event:
    batch = entry.detail.get("batch") if isinstance(entry.detail, dict) else None
    detail = entry.outcome + (f" (bulk action {batch})" if batch else "")
    return Event(at=entry.at, kind="audit", title=f"{entry.action.capitalize()} by {entry.actor_name}",
                 detail=detail, actor=entry.actor_name, source=entry.get_source_display(),
                 address=entry.client_address, reason=entry.reason)
