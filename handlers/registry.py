"""The registry of job types: `@handler("type", ...)` declares a type and its policy once.

    @handler("imports.csv", queue="imports", concurrency=2, concurrency_key="org",
             dedup_key="import-{file_id}", debounce=2, timeout=600, schema=CsvImport,
             sensitive=("api_token",))
    def import_csv(ctx: JobContext) -> dict: ...

Every option defaults from settings. Registration validates every option and raises
`HandlerConfigurationError` naming the type and the bad value; registering a type twice
raises too. `checks.py` reports the same errors as Django system checks.

A type is tracked by default: each job is a Job row that users see. `tracked=False` declares
an untracked job: sent as a Celery task with no Job row (the platform's own maintenance, run by
the code-defined schedules), so nothing that needs a row applies to it. `system=True` is the
older spelling of `tracked=False` and still accepted.
"""
from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from handlers.context import JobContext

HandlerFunc = Callable[[JobContext], Any]

_TYPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)s?\s*$")
_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
            "d": 86400, "day": 86400}
# what a concurrency limit may be counted per, besides a payload field ("input.<field>")
CONCURRENCY_SCOPES = ("org", "user", "project")


# (the name `type` is a field of HandlerSpec, where it would shadow the builtin)
ExceptionClasses = tuple[type[BaseException], ...]


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
class RateLimit:
    """At most `count` starts per `period` seconds, across every worker."""

    count: int
    period: float

    @classmethod
    def parse(cls, value: str | tuple[int, float] | RateLimit) -> RateLimit:
        if isinstance(value, RateLimit):
            return value
        if isinstance(value, tuple) and len(value) == 2:
            return cls(int(value[0]), float(value[1]))
        match = _RATE.match(value) if isinstance(value, str) else None
        if not match:
            raise ValueError(f"rate_limit={value!r}: write it as 'N/s', 'N/m', 'N/h', 'N/10s' or (N, seconds)")
        multiple = int(match.group(2) or 1)
        return cls(int(match.group(1)), multiple * _PERIODS[match.group(3)])


@dataclass(frozen=True)
class Timeout:
    """`soft` seconds: SoftTimeLimitExceeded is raised inside the handler (the attempt fails, and is
    retried); `hard` seconds: the process running it is killed."""

    soft: float | None
    hard: float | None


@dataclass(frozen=True)
class HandlerSpec:
    type: str
    func: HandlerFunc
    queue: str
    max_attempts: int
    backoff: Backoff
    priority: int
    concurrency: int | None = None
    concurrency_key: str | None = None
    rate_limit: RateLimit | None = None
    debounce: float | None = None
    dedup_key: str | None = None
    retry_on: ExceptionClasses = ()
    never_retry_on: ExceptionClasses = ()
    timeout: Timeout | None = None
    queue_timeout: float | None = None
    schema: Any = None
    tracked: bool = True
    description: str = ""
    # top-level input keys shown masked to those who may not see them (`jobs.selectors.payload`)
    sensitive: tuple[str, ...] = ()

    @property
    def system(self) -> bool:
        """The older name of `not tracked` (a job without a Job row)."""
        return not self.tracked

    def is_retryable(self, exc: BaseException) -> bool:
        if self.never_retry_on and isinstance(exc, self.never_retry_on):
            return False
        if self.retry_on:
            return isinstance(exc, self.retry_on)
        return True

    def format_dedup_key(self, payload: dict[str, Any]) -> str | None:
        """The dedup key for a payload, or None when the type has no template.

        Raises KeyError naming the missing field."""
        if self.dedup_key is None:
            return None
        return self.dedup_key.format_map(_Strict(payload))

    def policy(self) -> dict[str, Any]:
        """The policy as plain data, for the API and the admin."""
        return {
            "queue": self.queue,
            "maxAttempts": self.max_attempts,
            "backoff": {"base": self.backoff.base, "factor": self.backoff.factor, "max": self.backoff.max,
                        "jitter": self.backoff.jitter},
            "priority": self.priority,
            "concurrency": self.concurrency,
            "concurrencyKey": self.concurrency_key,
            "rateLimit": ({"count": self.rate_limit.count, "period": self.rate_limit.period}
                          if self.rate_limit else None),
            "debounce": self.debounce,
            "dedupKey": self.dedup_key,
            "timeout": {"soft": self.timeout.soft, "hard": self.timeout.hard} if self.timeout else None,
            "queueTimeout": self.queue_timeout,
            "system": self.system,
            "sensitive": list(self.sensitive),
        }


class _Strict(dict):
    def __missing__(self, key: str) -> Any:
        raise KeyError(key)


_registry: dict[str, HandlerSpec] = {}


def handler(
    job_type: str,
    *,
    queue: str | None = None,
    max_attempts: int | None = None,
    backoff: Backoff | None = None,
    priority: int | None = None,
    concurrency: int | None = None,
    concurrency_key: str | None = None,
    rate_limit: str | tuple[int, float] | RateLimit | None = None,
    debounce: float | None = None,
    dedup_key: str | None = None,
    retry_on: tuple[type[BaseException], ...] = (),
    never_retry_on: tuple[type[BaseException], ...] = (),
    timeout: float | tuple[float | None, float | None] | None = None,
    queue_timeout: float | None = None,
    schema: Any = None,
    tracked: bool | None = None,
    system: bool | None = None,
    sensitive: tuple[str, ...] | list[str] = (),
) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register the decorated function as the handler of `job_type`.

    `tracked=False` registers an untracked job (no Job row); `system=True` means the same.

    `timeout` is the soft limit in seconds (the hard limit is then soft + JOBS_HARD_TIMEOUT_GRACE)
    or a (soft, hard) pair. `debounce` needs a `dedup_key`: triggers with the same key within
    the window give one run, a window after the last trigger. `sensitive` names top-level
    input keys (`("password", "token")`) that the console and the API mask for a viewer who is
    not the job's owner and lacks the permission jobs.view_sensitive_input.
    """

    def register(func: HandlerFunc) -> HandlerFunc:
        where = f"handler {job_type!r}"
        is_tracked = _tracked(where, tracked, system)
        try:
            rate = RateLimit.parse(rate_limit) if rate_limit is not None else None
        except (ValueError, TypeError) as exc:
            raise HandlerConfigurationError(f"{where}: {exc}") from None
        spec = HandlerSpec(
            type=job_type,
            func=func,
            queue=queue or settings.JOBS_DEFAULT_QUEUE,
            max_attempts=settings.JOBS_DEFAULT_MAX_ATTEMPTS if max_attempts is None else max_attempts,
            backoff=(backoff or Backoff()).resolved(),
            priority=settings.JOBS_DEFAULT_PRIORITY if priority is None else priority,
            concurrency=concurrency, concurrency_key=concurrency_key, rate_limit=rate,
            debounce=debounce, dedup_key=dedup_key,
            retry_on=tuple(retry_on), never_retry_on=tuple(never_retry_on),
            timeout=_timeout(job_type, timeout), queue_timeout=queue_timeout,
            schema=schema,
            tracked=is_tracked,
            description=(func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else "",
            sensitive=_sensitive(sensitive),
        )
        for problem in validate(spec):
            raise HandlerConfigurationError(problem)
        _registry[job_type] = spec
        return func

    return register


def _tracked(where: str, tracked: bool | None, system: bool | None) -> bool:
    """`tracked`, or what its older spelling `system` says; both given must agree."""
    if system is None:
        return True if tracked is None else tracked
    if tracked is not None and tracked == system:
        raise HandlerConfigurationError(f"{where}: tracked={tracked!r} contradicts system={system!r} "
                                        "(system=True is the older spelling of tracked=False)")
    return not system


def _sensitive(value: Any) -> Any:
    """The sensitive input keys as a tuple (a list is accepted); anything else is left for
    `validate` to refuse, naming it (a bare string is a one-element tuple missing its comma)."""
    return tuple(value) if isinstance(value, list) else value


def _timeout(job_type: str, value: float | tuple[float | None, float | None] | None) -> Timeout | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        if len(value) != 2:
            raise HandlerConfigurationError(f"handler {job_type!r}: timeout={value!r} must be seconds or (soft, hard)")
        return Timeout(soft=value[0], hard=value[1])
    return Timeout(soft=float(value), hard=float(value) + settings.JOBS_HARD_TIMEOUT_GRACE)


def validate(spec: HandlerSpec) -> list[str]:
    """Every problem with a spec, each naming the type and the bad value."""
    where = f"handler {spec.type!r}"
    problems: list[str] = []
    if not isinstance(spec.type, str) or not _TYPE_NAME.match(spec.type):
        problems.append(f"{where}: a job type is 1-100 characters of letters, digits and _ . : - "
                        "starting with a letter or digit")
    existing = _registry.get(spec.type)
    if existing is not None and existing.func is not spec.func:
        problems.append(
            f"{where} is registered twice: by {existing.func.__module__}.{existing.func.__qualname__} "
            f"and by {spec.func.__module__}.{spec.func.__qualname__}"
        )
    if not callable(spec.func):
        problems.append(f"{where}: the handler must be callable")
    known_queues = [*settings.JOBS_QUEUES, settings.JOBS_SYSTEM_QUEUE]
    if spec.queue not in known_queues:
        problems.append(f"{where}: queue={spec.queue!r} is not one of JOBS_QUEUES ({', '.join(known_queues)})")
    if not isinstance(spec.max_attempts, int) or spec.max_attempts < 1:
        problems.append(f"{where}: max_attempts={spec.max_attempts!r} must be an integer >= 1")
    if not isinstance(spec.priority, int) or isinstance(spec.priority, bool) or not 1 <= spec.priority <= 10:
        problems.append(f"{where}: priority={spec.priority!r} must be an integer from 1 (most urgent) to 10")
    b = spec.backoff
    if b.base is None or b.base < 0 or b.factor is None or b.factor < 1 or b.max is None or b.max < 0:
        problems.append(f"{where}: backoff={b!r} needs base >= 0, factor >= 1, max >= 0")
    if spec.concurrency is not None and (not isinstance(spec.concurrency, int) or spec.concurrency < 1):
        problems.append(f"{where}: concurrency={spec.concurrency!r} must be an integer >= 1")
    if spec.concurrency_key is not None:
        if spec.concurrency is None:
            problems.append(f"{where}: concurrency_key={spec.concurrency_key!r} needs a concurrency limit")
        key = spec.concurrency_key
        field = key[len("input."):] if isinstance(key, str) and key.startswith("input.") else None
        if key not in CONCURRENCY_SCOPES and not (field and _FIELD_NAME.match(field)):
            problems.append(f"{where}: concurrency_key={key!r} must be one of {', '.join(CONCURRENCY_SCOPES)} "
                            "or 'input.<field>'")
    if spec.rate_limit is not None and (spec.rate_limit.count < 1 or spec.rate_limit.period <= 0):
        problems.append(f"{where}: rate_limit needs at least 1 start per a positive period")
    if spec.debounce is not None:
        if not isinstance(spec.debounce, (int, float)) or spec.debounce <= 0:
            problems.append(f"{where}: debounce={spec.debounce!r} must be a number of seconds > 0")
        if spec.dedup_key is None:
            problems.append(f"{where}: debounce needs a dedup_key template (which triggers are the same)")
    if spec.dedup_key is not None:
        problems.extend(_template_problems(where, spec.dedup_key))
    for name in ("retry_on", "never_retry_on"):
        for cls in getattr(spec, name):
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                problems.append(f"{where}: {name} must list exception classes, got {cls!r}")
    if spec.timeout is not None:
        soft, hard = spec.timeout.soft, spec.timeout.hard
        if (soft is not None and soft <= 0) or (hard is not None and hard <= 0) or (soft and hard and hard < soft):
            problems.append(f"{where}: timeout=({soft}, {hard}) needs positive seconds with hard >= soft")
    if spec.queue_timeout is not None and spec.queue_timeout <= 0:
        problems.append(f"{where}: queue_timeout={spec.queue_timeout!r} must be a number of seconds > 0")
    problems.extend(_sensitive_problems(where, spec.sensitive))
    if spec.schema is not None and not hasattr(spec.schema, "model_validate"):
        problems.append(f"{where}: schema={spec.schema!r} must be a pydantic model class")
    if not spec.tracked and (spec.dedup_key or spec.debounce or spec.concurrency_key in CONCURRENCY_SCOPES):
        problems.append(f"{where}: an untracked job (tracked=False) has no Job row, so no dedup_key, debounce or "
                        "org/user/project key")
    return problems


def _sensitive_problems(where: str, keys: Any) -> list[str]:
    if not isinstance(keys, tuple):
        return [f"{where}: sensitive={keys!r} must be a tuple of top-level input keys, e.g. sensitive=('password',)"]
    bad = [key for key in keys if not isinstance(key, str) or not key.strip()]
    if bad:
        return [f"{where}: sensitive={keys!r} must name input keys as non-empty strings; not "
                f"{', '.join(repr(key) for key in bad)}"]
    nested = [key for key in keys if "." in key]
    if nested:
        return [f"{where}: sensitive={keys!r} names top-level input keys only (the whole value is masked); "
                f"{', '.join(repr(key) for key in nested)} looks like a nested field: name its top-level key"]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        return [f"{where}: sensitive={keys!r} names {', '.join(repr(key) for key in repeated)} more than once"]
    return []


def _template_problems(where: str, template: Any) -> list[str]:
    if not isinstance(template, str) or not template:
        return [f"{where}: dedup_key={template!r} must be a non-empty template string"]
    try:
        fields = [name for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        return [f"{where}: dedup_key={template!r} is not a valid template: {exc}"]
    bad = [name for name in fields if not _FIELD_NAME.match(name)]
    if bad:
        return [f"{where}: dedup_key={template!r} may only name payload fields, as {{attachment_id}}; got {bad}"]
    if not fields:
        return [f"{where}: dedup_key={template!r} names no payload field, so every job would share one key"]
    return []


def get_handler(job_type: str) -> HandlerSpec | None:
    return _registry.get(job_type)


def registered_types(*, tracked: bool | None = None, system: bool | None = None) -> list[str]:
    """Every registered type, or only the tracked (or untracked) ones; `system=True` is the older
    spelling of `tracked=False`."""
    if system is not None:
        tracked = not system
    return sorted(name for name, spec in _registry.items() if tracked is None or spec.tracked == tracked)


def all_handlers() -> list[HandlerSpec]:
    return [_registry[name] for name in sorted(_registry)]


def all_queues() -> list[str]:
    """Every queue a job can be published to: the settings' (JOBS_QUEUES, the default and the
    system queue) and every registered type's, de-duplicated, in that order."""
    queues = [settings.JOBS_DEFAULT_QUEUE, *settings.JOBS_QUEUES, *(spec.queue for spec in all_handlers()),
              settings.JOBS_SYSTEM_QUEUE]
    return list(dict.fromkeys(queues))


def unregister(job_type: str) -> None:
    """Remove a type; for tests that register throw-away handlers."""
    _registry.pop(job_type, None)
