"""Django system checks for the system schedules: `manage.py check` (and every command that
runs the checks, `migrate` included) refuses a bad cron expression, an unknown job type or
task, a duplicated name, naming the schedule."""
from __future__ import annotations

from typing import Any

from django.core import checks

from scheduler import system


@checks.register("conveyor")
def check_system_schedules(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [checks.Error(problem, obj="scheduler.system.SYSTEM_SCHEDULES", id="conveyor.E101")
            for problem in system.validate_all(system.SYSTEM_SCHEDULES)]
