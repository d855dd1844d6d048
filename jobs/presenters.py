"""How a job looks to a person or a program: one dict shape and a few text layouts.

The management commands (`enqueue_job`, `jobs`) print through here so that `--json` output
and tables stay the same everywhere; the dict uses the API's camelCase names and ISO 8601
timestamps in UTC. Given a `viewer`, the input and result are what that person may see
(`jobs.selectors.payload`: sensitive fields masked, or both withheld); without one (the
commands, which act with the shell's rights) they are whole.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from jobs.errors import JobValidationError
from jobs.models import Job, JobAttempt
from jobs.selectors.payload import visible_payload
from jobs.selectors.reads import UNSCOPED


def iso(value: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 in UTC with a trailing Z; None stays None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def short_id(job_id: Any) -> str:
    """The first 8 hex digits of a job id: enough to tell jobs apart on a screen."""
    return str(job_id)[:8]


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def job_to_dict(job: Job, *, viewer: Any = UNSCOPED, memberships: dict[int, str] | None = None) -> dict[str, Any]:
    """A job as one JSON-able object (the shape of `--json` and of the API's job resource).

    With `viewer` (a user), input and result are as that user may see them: `payloadHidden`
    then says which permission would show a withheld payload, and `maskedInputFields` names
    the input fields shown masked. Pass `memberships` (`jobs.selectors.memberships_of`) for a
    list, to save a query per job.

    Names (createdByName, projectName) read the creator and the project: load the job through
    `jobs.selectors`, which joins them, or each job costs up to two more queries."""
    payload = visible_payload(job, viewer, memberships=memberships)
    return {
        "id": str(job.pk),
        "type": job.type,
        "status": job.status,
        "progress": job.progress,
        "progressMessage": job.progress_message,
        "input": payload.input,
        "result": payload.result,
        "payloadHidden": payload.hidden or None,
        "maskedInputFields": list(payload.masked),
        "error": job.error or None,
        "priority": job.priority,
        "queue": job.queue,
        "attempts": job.attempts,
        "maxAttempts": job.max_attempts,
        "dedupKey": job.dedup_key,
        "createdBy": job.created_by_id,
        "createdByName": _user_name(job),
        # "orgId" is the API's name for it; "organizationId" stays for existing readers
        "orgId": job.organization_id,
        "organizationId": job.organization_id,
        "projectId": job.project_id,
        "projectName": _project_name(job),
        "cancelRequested": job.cancel_requested_at is not None,
        "createdAt": iso(job.created_at),
        "updatedAt": iso(job.updated_at),
        "queuedAt": iso(job.queued_at),
        "startedAt": iso(job.started_at),
        "completedAt": iso(job.completed_at),
        "runAt": iso(job.run_at),
        "estimatedDuration": job.estimated_duration,
        "actualDuration": job.actual_duration,
    }


def _user_name(job: Job) -> str | None:
    # The names read relations: list them through `jobs.selectors`, which joins the creator and
    # the project in the same query, so that a page of jobs costs no query per job.
    user = job.created_by if job.created_by_id is not None else None
    return None if user is None else (user.get_full_name() or user.get_username())


def _project_name(job: Job) -> str | None:
    project = job.project if job.project_id is not None else None
    return None if project is None else project.name


def attempt_to_dict(attempt: JobAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "worker": attempt.worker,
        "outcome": attempt.outcome,
        "startedAt": iso(attempt.started_at),
        "finishedAt": iso(attempt.finished_at),
        "duration": attempt.duration,
        "error": attempt.error or None,
    }


def option_error(exc: JobValidationError, names: dict[str, str]) -> str:
    """A validation error re-worded with the name the user typed (a command-line option for
    the API's field name, e.g. dedupKey -> --dedup-key)."""
    text = str(exc)
    prefix = f"{exc.field}: "
    detail = text[len(prefix):] if text.startswith(prefix) else text
    return f"{names.get(exc.field, exc.field)}: {detail}"


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Rows under headers in left-aligned columns two spaces apart (no trailing blanks)."""
    text_rows = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *text_rows]:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    # a table cell is one line: a multi-line error would break the columns
    return " ".join(str(value).split())


JOB_LIST_HEADERS = ("ID", "TYPE", "STATUS", "PROGRESS", "ATTEMPTS", "PRIORITY", "CREATED (UTC)")


def job_list_row(job: Job) -> tuple[Any, ...]:
    return (
        job.pk,
        job.type,
        job.status,
        f"{job.progress}%",
        f"{job.attempts}/{job.max_attempts}",
        job.priority,
        job.created_at,
    )


def job_detail_lines(job: Job) -> list[str]:
    """A job as aligned `label  value` lines, for humans."""
    pairs: list[tuple[str, Any]] = [
        ("id", job.pk),
        ("type", job.type),
        ("status", job.status + (" (cancel requested)" if job.cancel_requested_at and not job.is_final else "")),
        ("progress", f"{job.progress}%" + (f" {job.progress_message}" if job.progress_message else "")),
        ("attempts", f"{job.attempts}/{job.max_attempts}"),
        ("priority", job.priority),
        ("queue", job.queue),
        ("input", _json(job.input)),
    ]
    if job.result is not None:
        pairs.append(("result", _json(job.result)))
    if job.error:
        pairs.append(("error", job.error))
    if job.dedup_key:
        pairs.append(("dedup key", job.dedup_key))
    if job.created_by_id is not None:
        pairs.append(("created by", job.created_by))
    if job.organization_id is not None:
        pairs.append(("organization", f"{job.organization} (id {job.organization_id})"))
    if job.project_id is not None:
        pairs.append(("project", f"{job.project} (id {job.project_id})"))
    pairs += [
        ("created", iso(job.created_at)),
        ("run at", iso(job.run_at)),
        ("started", iso(job.started_at)),
        ("completed", iso(job.completed_at)),
        ("duration", format_duration(job.actual_duration)),
    ]
    if job.worker:
        pairs.append(("worker", job.worker))
    width = max(len(label) for label, _ in pairs)
    return [f"{label.ljust(width)}  {_cell(value)}" for label, value in pairs]


ATTEMPT_HEADERS = ("#", "OUTCOME", "WORKER", "STARTED (UTC)", "DURATION", "ERROR")


def attempt_row(attempt: JobAttempt) -> tuple[Any, ...]:
    return (
        attempt.number,
        attempt.outcome,
        attempt.worker or "-",
        attempt.started_at,
        format_duration(attempt.duration),
        attempt.error or "",
    )


def _json(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": "), sort_keys=True)
    # a huge payload would drown the terminal; --json prints it whole
    return text if len(text) <= 200 else text[:197] + "..."
