"""The platform's errors. Each message names the ids, values and states involved."""
from __future__ import annotations

import math
from typing import Any


class ConveyorError(Exception):
    """Base of every error the platform raises on purpose."""

    http_status = 400  # the API's answer (`api.errors`); subclasses name their own


class JobNotFound(ConveyorError):
    http_status = 404

    def __init__(self, job_id: Any) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} does not exist")


class InvalidJobTransition(ConveyorError):
    http_status = 409
    api_code = "invalid_transition"

    def __init__(self, job_id: Any, current: str, target: str, reason: str = "") -> None:
        self.job_id = job_id
        self.current = current
        self.target = target
        detail = f": {reason}" if reason else ""
        super().__init__(f"job {job_id} is {current} and cannot become {target}{detail}")


class JobValidationError(ConveyorError):
    """Bad input for a job; `field` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.detail = message
        super().__init__(f"{field}: {message}")


class UnknownJobType(JobValidationError):
    def __init__(self, job_type: str, known: list[str]) -> None:
        self.job_type = job_type
        listed = ", ".join(sorted(known)) or "none"
        super().__init__("type", f"unknown job type {job_type!r}; registered types: {listed}")


class PayloadTooLarge(JobValidationError):
    http_status = 413

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__("input", f"payload is {size} bytes, over the limit of {limit} bytes")


class QuotaExceeded(ConveyorError):
    """Creating one more job would exceed a quota; nothing was created.

    `retry_after` is how many seconds until one more job fits in that window."""

    http_status = 429

    def __init__(self, *, limit: int, period: str, scope: str, source: str, retry_after: float) -> None:
        self.limit = limit
        self.period = period
        self.scope = scope
        self.source = source
        self.retry_after = retry_after
        wait = max(1, math.ceil(retry_after))
        super().__init__(
            f"quota exceeded: at most {limit} job(s) per {period} for {scope} ({source}); "
            f"the next job fits in {wait} s"
        )


class NotPermitted(ConveyorError):
    """The person acting lacks the permission an action needs; nothing was changed."""

    http_status = 403
    api_code = "permission_denied"

    def __init__(self, who: str, action: str, permission: str, target: str = "") -> None:
        self.who = who
        self.action = action
        self.permission = permission
        on = f" {target}" if target else ""
        super().__init__(f"{who} may not {action}{on}: it needs the permission {permission!r}")


class PauseError(ConveyorError):
    """A pause or resume that cannot be done as asked; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
