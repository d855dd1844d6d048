"""What of a job's input, result and log lines a person may see: the one rule that the job
page and the API both apply.

    the job's owner (its creator, or an admin of its organization)   everything
    anyone else with jobs.view_job_payload and jobs.view_sensitive_input   everything
    anyone else with jobs.view_job_payload only      the input with the fields its handler
                                                     declares sensitive shown as "••••••"
    anyone else                                      neither input, result nor log lines, and
                                                     a sentence naming the permission needed

A handler declares its sensitive input fields with `@handler(..., sensitive=("password",))`
(top-level keys; the whole value is masked). Log lines go with the payload, since handlers
often log what they were given. The management commands act with the shell's rights and pass
no viewer: they see everything (`UNSCOPED`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.registry import get_handler
from jobs.models import Job
from jobs.selectors.access import is_person, owns_job
from jobs.selectors.reads import UNSCOPED

MASK = "••••••"
PAYLOAD_PERMISSION = "jobs.view_job_payload"
SENSITIVE_PERMISSION = "jobs.view_sensitive_input"


@dataclass(frozen=True)
class VisiblePayload:
    """A job's input and result as one viewer may see them."""

    input: Any  # None when hidden
    result: Any  # None when hidden (or when the job has none)
    hidden: str = ""  # why input and result are withheld, naming the permission; "" when shown
    masked: tuple[str, ...] = ()  # the input keys shown as MASK

    @property
    def shown(self) -> bool:
        return not self.hidden

    @property
    def masked_note(self) -> str:
        """A sentence saying which fields are masked and what would show them; "" if none."""
        if not self.masked:
            return ""
        names = ", ".join(self.masked)
        return (f"Sensitive input field{'s' if len(self.masked) > 1 else ''} masked ({names}): seeing "
                f"{'them' if len(self.masked) > 1 else 'it'} needs the permission {SENSITIVE_PERMISSION} "
                "(or being the job's owner).")


def sensitive_fields(job_type: str) -> tuple[str, ...]:
    """The input keys the type's handler declares sensitive (none for a type not registered in
    this process)."""
    spec = get_handler(job_type)
    return spec.sensitive if spec is not None else ()


# the owner's rule is the services' too (`jobs.services.permissions`)
is_owner = owns_job


def visible_payload(job: Job, user: Any = UNSCOPED, *, memberships: dict[int, str] | None = None) -> VisiblePayload:
    """The job's input and result as `user` may see them (see the module's table). Pass
    `memberships` (from `memberships_of`) to save a query per job in a list."""
    if user is UNSCOPED or is_owner(user, job, memberships):
        return VisiblePayload(input=job.input, result=job.result)
    if not _has(user, PAYLOAD_PERMISSION):
        return VisiblePayload(
            input=None, result=None,
            hidden=f"The input, result and log lines of this job are hidden: seeing them needs the permission "
                   f"{PAYLOAD_PERMISSION} (or being the job's owner).",
        )
    sensitive = sensitive_fields(job.type)
    if not sensitive or _has(user, SENSITIVE_PERMISSION) or not isinstance(job.input, dict):
        return VisiblePayload(input=job.input, result=job.result)
    masked = tuple(key for key in sensitive if key in job.input)
    shown = {key: (MASK if key in masked else value) for key, value in job.input.items()}
    return VisiblePayload(input=shown, result=job.result, masked=masked)


def _has(user: Any, permission: str) -> bool:
    return is_person(user) and bool(user.is_active) and bool(user.has_perm(permission))
