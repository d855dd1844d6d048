"""The registry of job types: `@handler("type", ...)` declares a type and its policy once.

    @handler("reports.build", max_attempts=5, backoff=Backoff(base=10))
    def build_report(ctx: JobContext) -> dict: ...

Registration validates every option and raises `HandlerConfigurationError` with a message
naming the type and the bad value; registering a type twice raises too.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from handlers.context import JobContext

HandlerFunc = Callable[["JobContext"], Any]

_TYPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")


class HandlerConfigurationError(Exception):
    pass


@dataclass(frozen=True)
class Backoff:
    """Delay before retry n (n = 1 after the first failure): base * factor ** (n - 1), capped.

    Jitter, when on, draws uniformly from [delay / 2, delay]: it spreads a thundering herd
    but never fires a retry at once (Celery's full jitter can).
    """

    base: float | None = None
    factor: float | None = None
    max: float | None = None
    jitter: bool | None = None

    def resolved(self) -> Backoff:
        return Backoff(
            base=settings.JOBS_BACKOFF_BASE if self.base is None else self.base,
            factor=settings.JOBS_BACKOFF_FACTOR if self.factor is None else self.factor,
            max=settings.JOBS_BACKOFF_MAX if self.max is None else self.max,
            jitter=settings.JOBS_BACKOFF_JITTER if self.jitter is None else self.jitter,
        )

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after the attempt numbered `failed_attempt` (1-based) failed."""
        b = self.resolved()
        assert b.base is not None and b.factor is not None and b.max is not None
        seconds = min(b.base * b.factor ** max(failed_attempt - 1, 0), b.max)
        if b.jitter:
            seconds = random.uniform(seconds / 2, seconds)
        return seconds


@dataclass(frozen=True)
class HandlerSpec:
    type: str
    func: HandlerFunc
    queue: str
    max_attempts: int
    backoff: Backoff
    priority: int
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)


_registry: dict[str, HandlerSpec] = {}


def handler(
    job_type: str,
    *,
    queue: str | None = None,
    max_attempts: int | None = None,
    backoff: Backoff | None = None,
    priority: int | None = None,
) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register the decorated function as the handler of `job_type`."""

    def register(func: HandlerFunc) -> HandlerFunc:
        spec = HandlerSpec(
            type=job_type,
            func=func,
            queue=queue or settings.JOBS_DEFAULT_QUEUE,
            max_attempts=settings.JOBS_DEFAULT_MAX_ATTEMPTS if max_attempts is None else max_attempts,
            backoff=(backoff or Backoff()).resolved(),
            priority=settings.JOBS_DEFAULT_PRIORITY if priority is None else priority,
            description=(func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else "",
        )
        _validate(spec)
        _registry[job_type] = spec
        return func

    return register


def _validate(spec: HandlerSpec) -> None:
    where = f"handler {spec.type!r}"
    if not isinstance(spec.type, str) or not _TYPE_NAME.match(spec.type):
        raise HandlerConfigurationError(
            f"{where}: a job type is 1-100 characters of letters, digits and _ . : - "
            "starting with a letter or digit"
        )
    if spec.type in _registry:
        existing = _registry[spec.type].func
        raise HandlerConfigurationError(
            f"{where} is registered twice: by {existing.__module__}.{existing.__qualname__} "
            f"and by {spec.func.__module__}.{spec.func.__qualname__}"
        )
    if not callable(spec.func):
        raise HandlerConfigurationError(f"{where}: the handler must be callable")
    if not isinstance(spec.max_attempts, int) or spec.max_attempts < 1:
        raise HandlerConfigurationError(f"{where}: max_attempts={spec.max_attempts!r} must be an integer >= 1")
    if not isinstance(spec.priority, int) or not 1 <= spec.priority <= 10:
        raise HandlerConfigurationError(f"{where}: priority={spec.priority!r} must be an integer from 1 to 10")
    b = spec.backoff
    if b.base is None or b.base < 0 or b.factor is None or b.factor < 1 or b.max is None or b.max < 0:
        raise HandlerConfigurationError(f"{where}: backoff={b!r} needs base >= 0, factor >= 1, max >= 0")


def get_handler(job_type: str) -> HandlerSpec | None:
    return _registry.get(job_type)


def registered_types() -> list[str]:
    return sorted(_registry)


def all_handlers() -> list[HandlerSpec]:
    return [_registry[name] for name in sorted(_registry)]


def unregister(job_type: str) -> None:
    """Remove a type; for tests that register throw-away handlers."""
    _registry.pop(job_type, None)
