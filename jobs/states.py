"""Job statuses, the table of allowed transitions and the outcomes of an attempt. Nothing else
lives here.

    queued ──claim──▶ running ──complete──▶ completed
      │  ▲              │ │ └──fail (no attempts left) / poison pill──▶ failed ──┐
      │  │              │ └──cancel acknowledged──▶ cancelled ─────────────────┤
      │  └──release─────┘   (retry with backoff, rescue, shutdown, no slot)     │
      │  └──────────────────────────retry (by a user)───────────────────────────┘
      ├──cancel──▶ cancelled
      └──expire──▶ failed   (a queued job that can never run: unknown type, queue-wait timeout)
"""
from __future__ import annotations

from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    """Waiting for a worker; may carry a run_at in the future (backoff, delay)."""
    RUNNING = "running", "Running"
    """Claimed by exactly one execution, which heartbeats while it lives."""
    COMPLETED = "completed", "Completed"
    """The handler returned; the result is stored. Final."""
    FAILED = "failed", "Failed"
    """Out of attempts, a permanent error, or a poison pill; the last error is kept."""
    CANCELLED = "cancelled", "Cancelled"
    """Cancelled by a user before or while it ran."""


class AttemptOutcome(models.TextChoices):
    """How one execution of a job (a JobAttempt) ended; RUNNING while it lives."""

    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed (will retry)"
    FAILED_FINAL = "failed_final", "Failed (final)"
    CANCELLED = "cancelled", "Cancelled"
    LOST = "lost", "Worker lost"
    INTERRUPTED = "interrupted", "Interrupted by shutdown"
    TIMEOUT = "timeout", "Timed out"


ACTIVE_STATUSES: frozenset[str] = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
FINAL_STATUSES: frozenset[str] = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

# Read as "a job may enter <key> from <any of these>": keyed by the target, because every
# transition is one guarded UPDATE whose WHERE clause is `status IN ALLOWED_FROM[target]`.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset({JobStatus.QUEUED}),
    JobStatus.COMPLETED: frozenset({JobStatus.RUNNING}),
    JobStatus.FAILED: frozenset({JobStatus.RUNNING, JobStatus.QUEUED}),
    JobStatus.CANCELLED: frozenset({JobStatus.QUEUED, JobStatus.RUNNING}),
}

# The statuses each operator action starts from (the API's bulk actions, the admin's buttons
# and the services' guards all read this). Cancelling is a transition to cancelled; retrying is
# a user's transition back to queued, which only final, unsuccessful jobs take.
ACTION_FROM: dict[str, frozenset[str]] = {
    "cancel": ALLOWED_FROM[JobStatus.CANCELLED],
    "retry": frozenset({JobStatus.FAILED, JobStatus.CANCELLED}),
}

# Names other job systems use for the same states; accepted wherever a status is read from a user.
STATUS_ALIASES: dict[str, str] = {
    "pending": JobStatus.QUEUED,
    "waiting": JobStatus.QUEUED,
    "processing": JobStatus.RUNNING,
    "active": JobStatus.RUNNING,
    "finished": JobStatus.COMPLETED,
    "done": JobStatus.COMPLETED,
    "error": JobStatus.FAILED,
    "canceled": JobStatus.CANCELLED,
}


def is_allowed(source: str, target: str) -> bool:
    return source in ALLOWED_FROM.get(target, frozenset())


def parse_status(raw: str) -> str:
    """A user's status name (any case, aliases included) as a JobStatus value.

    Raises ValueError naming the value and the accepted names.
    """
    name = raw.strip().lower()
    if name in JobStatus.values:
        return name
    if name in STATUS_ALIASES:
        return STATUS_ALIASES[name]
    accepted = ", ".join([*JobStatus.values, *STATUS_ALIASES])
    raise ValueError(f"unknown status {raw!r}; accepted: {accepted}")
