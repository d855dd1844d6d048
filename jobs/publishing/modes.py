"""Where a publish goes: the broker, a list kept for a test (`record`), or a run in this process
(`inline`).

The mode is conf.dispatch_mode unless `jobs.testing` overrides it for a block. An
inline run needs the worker's runner, which publishing does not import (the worker imports
the services, which publish): the worker package registers it with `set_inline_runner` when
the jobs app starts (`jobs.apps`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from jobs.conf import conf


@dataclass
class Recorded:
    """A publish that `jobs.testing.jobs_recorded()` kept instead of sending."""

    job_id: str
    token: str
    job_type: str
    queue: str
    priority: int
    countdown: float | None
    extra: dict[str, Any] = field(default_factory=dict)


class InlineRunner(Protocol):
    """What runs a published job in this process in the `inline` mode."""

    def run_job(self, job_id: str, token: str) -> None:
        """Run one delivery of run_job(job_id, token), without limits or a heartbeat."""

    def run_untracked(self, job_type: str, payload: dict[str, Any]) -> str:
        """Run an untracked job (no Job row); return its task id."""


# set by jobs.testing; None means conf.dispatch_mode
mode_override: str | None = None
# what the `record` mode kept; jobs.testing takes its share and trims it, in place
recorded: list[Recorded] = []
_inline_runner: InlineRunner | None = None


def current_mode() -> str:
    return mode_override or conf.dispatch_mode


def set_inline_runner(runner: InlineRunner) -> None:
    global _inline_runner
    _inline_runner = runner


def inline_runner() -> InlineRunner:
    if _inline_runner is None:
        raise RuntimeError("JOBS_DISPATCH_MODE=inline needs the worker's inline runner, which the jobs app "
                           "registers when Django starts (jobs.apps.JobsConfig.ready)")
    return _inline_runner
