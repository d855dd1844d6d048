"""The scheduler's errors, under the platform's base error so that every adapter (admin,
commands, the API) reports them in one place. Each message names the schedule and the value."""
from __future__ import annotations

from typing import Any

from jobs.errors import ConveyorError, JobValidationError


class ScheduleNotFound(ConveyorError):
    http_status = 404

    def __init__(self, ref: Any) -> None:
        self.ref = ref
        super().__init__(f"schedule {ref} does not exist")


class ScheduleValidationError(JobValidationError):
    """Bad input for a schedule; `field` names what was wrong (an HTTP 400)."""


class ScheduleConflict(ConveyorError):
    """The schedule's state forbids the action (an HTTP 409): editing a system schedule,
    running one while its previous run is still going under the overlap policy "skip"."""

    http_status = 409

    def __init__(self, schedule: Any, message: str) -> None:
        self.schedule_id = getattr(schedule, "pk", schedule)
        super().__init__(f"schedule {getattr(schedule, 'name', schedule)!r}: {message}")


class ScheduleConfigurationError(ConveyorError):
    """The code's list of system schedules is wrong; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid system schedules: " + "; ".join(problems))
