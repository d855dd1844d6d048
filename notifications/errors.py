"""What a user can get wrong with notifications, under the platform's base error so that the
API answers it in the jobs API's format (`api.errors`): each names the field or the row."""
from __future__ import annotations

from typing import Any

from jobs.errors import ConveyorError, JobValidationError


class NotificationValidationError(JobValidationError):
    """Bad input for a channel or a rule; `field` names it (400). Nothing was changed."""


class NotificationNotFound(ConveyorError):
    http_status = 404

    def __init__(self, what: str, ref: Any) -> None:
        self.ref = ref
        super().__init__(f"{what} {ref} does not exist")


class NotificationConflict(ConveyorError):
    """The row's state forbids the action (409): resending a delivery still on its way,
    rotating the secret of a channel that has none."""

    http_status = 409

    def __init__(self, message: str, *, current: str | None = None) -> None:
        self.current = current
        super().__init__(message)
