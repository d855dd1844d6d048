"""What a job may hold: the checks the job services run on what a caller gives a job, before
anything is stored, published or handed to code that recurses.

Each refusal is a `JobValidationError` (or `PayloadTooLarge`) naming the field as the API
calls it and showing the bad value, cut short when it is long. The API answers 400 (413),
`manage.py enqueue_job` a CommandError, the scheduler a ScheduleValidationError: every path
goes through `jobs.services`, which calls these, so every path gets the same rules.

1. The input is walked once, iteratively (an explicit stack, never Python's), and that one
   pass bounds its nesting to MAX_INPUT_DEPTH, measures its size exactly as its compact JSON
   (`json.dumps(value, separators=(",", ":"))`, what JOBS_MAX_PAYLOAD_BYTES limits), and
   checks its text, keys and values at any depth. Only then do recursive consumers see it:
   pydantic schemas, Django's JSONField encoder, the worker's handlers.
2. Text PostgreSQL cannot store is refused: U+0000 (neither text nor jsonb holds it) and the
   surrogates U+D800-U+DFFF (halves of UTF-16 pairs, not characters: they have no UTF-8 form,
   and jsonb refuses their escapes). SQLite would keep both; they are refused on every
   database so that a job behaves the same everywhere.
3. A job starts at most MAX_DELAY (366 days) from now, by run_at or by delay.
4. A dedup key is 1 to 255 characters of storable text (200 for `job_submit`, which adds its
   scope in front).
5. The helpers every app's checks share: `int_in_range` and `number_in_range` (a bool is never
   a number here, though Python's True is an int), `input_schema_problem` (a type's schema,
   one error format wherever an input is checked) and `organization_for` (a job or schedule in
   a project belongs to the project's organization).
"""
from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii as _json_string  # C: the quoted string json.dumps writes
from typing import Any

from django.utils import timezone
from pydantic import ValidationError as SchemaError

from jobs.conf import conf
from jobs.errors import JobValidationError, PayloadTooLarge

# Levels of objects and arrays in an input, the input object itself being the first. Far more
# than a real document needs, and few enough that every recursive consumer (json, pydantic,
# psycopg, a handler) stays far from Python's recursion limit on any stack.
MAX_INPUT_DEPTH = 64

# How far ahead a job may be scheduled, by run_at or by delay (the API's runAt/delaySeconds).
MAX_DELAY = timedelta(days=366)
MAX_DELAY_SECONDS = MAX_DELAY.total_seconds()

DEDUP_KEY_MAX = 255  # Job.dedup_key's max_length
# room left in the 255 characters of Job.dedup_key for job_submit's scope prefix ("org-3:")
SUBMITTED_DEDUP_KEY_MAX = 200

# The walk measures exactly up to this many times the limit, then stops and says "more than":
# shared sub-objects can make a small Python object an enormous JSON document.
_MEASURE_FACTOR = 4

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}")
_SHOWN_WIDTH = 60


# --- shared checks -------------------------------------------------------------------------


def is_int(value: Any) -> bool:
    """An int and not a bool (Python's True is the int 1; as a count it is a mistake)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float, and not a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def int_in_range(field: str, value: Any, lo: int, hi: int | None = None, *,
                 error: type[JobValidationError] = JobValidationError, lo_label: str | None = None) -> int:
    """`value` when it is an int (not a bool) from lo to hi (no upper bound when hi is None);
    else `error(field, "must be an integer from 1 to 10, got 11")`. `lo_label` shows what the
    lower end means ("1 (most urgent)")."""
    if is_int(value) and lo <= value and (hi is None or value <= hi):
        return int(value)
    low = lo_label or str(lo)
    expected = f"from {low} to {hi}" if hi is not None else f">= {low}"
    raise error(field, f"must be an integer {expected}, got {value!r}")


def number_in_range(field: str, value: Any, lo: float, hi: float | None = None, *, what: str = "number",
                    error: type[JobValidationError] = JobValidationError) -> float:
    """`value` as a float when it is a finite number (not a bool) from lo to hi; else
    `error(field, "must be a finite number of days >= 0, got -1")` (`what` names the unit)."""
    if is_number(value) and lo <= value and (hi is None or value <= hi):
        return float(value)
    expected = f"from {lo:g} to {hi:g}" if hi is not None else f">= {lo:g}"
    raise error(field, f"must be a finite {what} {expected}, got {value!r}")


def input_schema_problem(spec: Any, payload: Any) -> JobValidationError | None:
    """What the type's schema (a pydantic model) refuses in `payload`, as a JobValidationError
    naming the first field it refuses ("input.invoice_id: Input should be a valid integer");
    None when it fits or the type has no schema. Every check of an input against a schema
    (creating a job, a schedule, a worker about to run one) reports in this one format."""
    if spec.schema is None:
        return None
    try:
        spec.schema.model_validate(payload)
    except SchemaError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JobValidationError(f"input.{where}" if where else "input", first.get("msg", "is invalid"))
    return None


def check_input_schema(spec: Any, payload: Any) -> None:
    """Raise `input_schema_problem`'s error, if any."""
    problem = input_schema_problem(spec, payload)
    if problem is not None:
        raise problem


def organization_for(*, project: Any, organization: Any, field: str = "projectId",
                     error: type[JobValidationError] = JobValidationError) -> Any:
    """The organization a job or schedule belongs to: a project's belongs to the project's
    organization, so with no organization given it is the project's; a given one must be the
    project's (a project outside any organization takes the given one)."""
    if project is None:
        return organization
    if organization is None:
        return project.organization
    if project.organization_id not in (None, organization.pk):
        raise error(field, f"project {project.pk} belongs to another organization than {organization.pk}")
    return organization


# --- the input ------------------------------------------------------------------------------


def validated_input(value: Any, *, max_bytes: int | None = None) -> dict[str, Any]:
    """A job's input as it will be stored: a JSON object within the size limit
    (JOBS_MAX_PAYLOAD_BYTES, or `max_bytes`), at most MAX_INPUT_DEPTH levels deep, whose text
    PostgreSQL can store; JobValidationError (or PayloadTooLarge) naming what is wrong
    otherwise. The field is always `input`; the message says where inside it."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise JobValidationError("input", f"must be a JSON object, got {type(value).__name__}")
    limit = conf.max_payload_bytes if max_bytes is None else max_bytes
    size = _measured(value, limit)
    if size > limit:
        raise PayloadTooLarge(size, limit)
    return value


def _measured(payload: dict[str, Any], limit: int) -> int:
    """The compact JSON size of `payload`, found by one walk that also bounds its depth and
    checks its text and types, raising at the first thing that cannot be stored.

    The hot path (exact str, int, dict and list) is inlined: job creation runs this on every
    payload. A string is only searched for what PostgreSQL refuses when it holds a NUL or is
    not ASCII, which `in` and `isascii()` (constant time) tell without a regex."""
    cap = limit * _MEASURE_FACTOR
    size = 0
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(payload, 1, ())]
    push, pop = stack.append, stack.pop
    try:
        while stack:
            node, depth, path = pop()
            count = len(node)
            keyed = isinstance(node, dict)
            if keyed:
                size += 2 * count + 1 if count else 2  # braces, a colon each, commas between
                pairs: Any = node.items()
            else:
                size += count + 1 if count else 2  # brackets, commas between
                pairs = enumerate(node)
            for key, item in pairs:
                if keyed:
                    if type(key) is str:
                        size += len(_json_string(key))
                        if "\x00" in key or not key.isascii():
                            _check_text(key, path, of_key=True)
                    else:
                        size += _key_size(key, path)
                kind = type(item)
                if kind is str:
                    size += len(_json_string(item))
                    if "\x00" in item or not item.isascii():
                        _check_text(item, (*path, key))
                elif kind is int or kind is float and item - item == 0.0:
                    size += len(repr(item))
                elif item is None or kind is bool:
                    size += 5 if item is False else 4
                elif kind is dict or kind is list or isinstance(item, (dict, list, tuple)):
                    if depth >= MAX_INPUT_DEPTH:
                        raise _too_deep((*path, key))
                    push((item, depth + 1, (*path, key)))
                elif isinstance(item, str):
                    size += len(_json_string(item))
                    _check_text(item, (*path, key))
                else:
                    size += _scalar_size(item, (*path, key))
            if size > cap:
                raise _too_large_to_measure(size, limit)
    except ValueError as exc:  # an integer too long to print (sys.get_int_max_str_digits)
        raise JobValidationError("input", f"is not JSON-serializable: {exc}") from None
    return size


def _scalar_size(value: Any, path: tuple[Any, ...]) -> int:
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    if isinstance(value, float):
        if not math.isfinite(value):
            raise JobValidationError(
                "input", f"is not JSON-serializable: {_where(path)} is {value!r} (NaN and infinities are not JSON)"
            )
        return len(float.__repr__(value))
    if isinstance(value, int):
        return len(int.__repr__(value))
    raise JobValidationError("input", f"is not JSON-serializable: {_where(path)} is a {type(value).__name__}")


def _key_size(key: Any, path: tuple[Any, ...]) -> int:
    """json.dumps writes a number, a boolean or None as an object key in quotes; it refuses
    any other key."""
    if isinstance(key, str):
        _check_text(key, path, of_key=True)
        return len(_json_string(key))
    if key is None or isinstance(key, (int, float)):
        return _scalar_size(key, (*path, key)) + 2
    raise JobValidationError(
        "input", f"is not JSON-serializable: {_where(path)} has a key of type {type(key).__name__} "
                 "(keys must be strings)"
    )


def _check_text(text: str, path: tuple[Any, ...], *, of_key: bool = False) -> None:
    problem = unstorable(text)
    if problem is not None:
        what = f"a key of {_where(path)}" if of_key else _where(path)
        raise JobValidationError("input", f"{problem}: {what} is {shown(text, _unstorable_at(text))}")


def _too_deep(path: tuple[Any, ...]) -> JobValidationError:
    return JobValidationError(
        "input", f"is nested more than {MAX_INPUT_DEPTH} levels deep (objects and arrays, the input itself "
                 f"being the first), at {_where(path)}"
    )


def _too_large_to_measure(size: int, limit: int) -> PayloadTooLarge:
    """PayloadTooLarge for a walk that stopped at `size`, short of the end."""
    error = PayloadTooLarge(size, limit)
    error.detail = f"payload is more than {size} bytes, over the limit of {limit} bytes"
    error.args = (f"{error.field}: {error.detail}",)
    return error


# --- text -----------------------------------------------------------------------------------


def unstorable(text: str) -> str | None:
    """Why PostgreSQL cannot store `text` ("must not contain the NUL character (U+0000)..."),
    or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "must not contain the NUL character (U+0000), which PostgreSQL cannot store"
    return (f"must not contain the lone surrogate U+{ord(char):04X} (half of a UTF-16 pair, not a character), "
            "which PostgreSQL cannot store")


def _unstorable_at(text: str) -> int:
    """Where the first character PostgreSQL cannot store is in `text` (0 if none)."""
    found = _UNSTORABLE.search(text)
    return found.start() if found is not None else 0


def result_problem(value: Any) -> str | None:
    """Why a handler's result cannot be stored as JSON in the Job row, or None when it can:
    deeper than MAX_INPUT_DEPTH, or holding text PostgreSQL refuses. One walk with its own
    stack, as for an input; json.dumps then finds what is not JSON at all."""
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 0, ())]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, str):
            problem = unstorable(node)
            if problem is not None:
                return f"{_where(path, root='result')} {problem}"
        elif isinstance(node, (dict, list, tuple)):
            if depth >= MAX_INPUT_DEPTH:
                return f"{_where(path, root='result')} is nested more than {MAX_INPUT_DEPTH} levels deep"
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, item in items:
                if isinstance(key, str) and unstorable(key) is not None:
                    return f"a key of {_where(path, root='result')} {unstorable(key)}"
                stack.append((item, depth + 1, (*path, key)))
    return None


def shown(text: str, at: int = 0) -> str:
    """`text` quoted for a message: escaped (a NUL or a surrogate printed raw would break the
    answer that carries the message) and, when long, cut to the part around position `at`."""
    if len(text) <= _SHOWN_WIDTH:
        return repr(text)
    start = max(0, min(at - _SHOWN_WIDTH // 2, len(text) - _SHOWN_WIDTH))
    end = start + _SHOWN_WIDTH
    return (f"{'...' if start else ''}{text[start:end]!r}{'...' if end < len(text) else ''} "
            f"({len(text)} characters)")


def _where(path: tuple[Any, ...], root: str = "input") -> str:
    """A place in the input, as `input.items[3].name`; a long path keeps its two ends."""
    parts = [_step(part) for part in path]
    if len(parts) > 8:
        parts = [*parts[:4], f"...({len(parts) - 7} more)...", *parts[-3:]]
    return root + "".join(parts)


def _step(part: Any) -> str:
    if isinstance(part, str) and _PLAIN_KEY.fullmatch(part):
        return f".{part}"
    if isinstance(part, int) and not isinstance(part, bool):
        return f"[{part}]"
    return f"[{shown(part) if isinstance(part, str) else repr(part)}]"


# --- the other fields -----------------------------------------------------------------------


def validated_dedup_key(key: Any, *, max_length: int = DEDUP_KEY_MAX) -> str | None:
    """A dedup key as it will be stored (None: no key): a string of 1 to `max_length`
    characters that PostgreSQL can store."""
    if key is None:
        return None
    if not isinstance(key, str):
        raise JobValidationError("dedupKey", f"must be a string of 1 to {max_length} characters, "
                                             f"got {type(key).__name__}")
    if not 0 < len(key) <= max_length:
        raise JobValidationError("dedupKey", f"must be a string of 1 to {max_length} characters, "
                                             f"got {len(key)}: {shown(key)}")
    problem = unstorable(key)
    if problem is not None:
        raise JobValidationError("dedupKey", f"{problem}: got {shown(key, _unstorable_at(key))}")
    return key


def validated_priority(priority: Any, default: int) -> int:
    """A job's priority, 1 (most urgent) to 10; `default` (the type's) when None."""
    if priority is None:
        return default
    return int_in_range("priority", priority, 1, 10, lo_label="1 (most urgent)")



def validated_run_at(run_at: Any, delay: Any, now: datetime) -> datetime | None:
    """When the job may start (None: now), from a run time or a delay in seconds, at most
    MAX_DELAY ahead; JobValidationError naming runAt or delay otherwise."""
    if run_at is not None and delay is not None:
        raise JobValidationError("runAt", "give either a run time or a delay, not both")
    if delay is not None:
        try:
            seconds = float(delay) if isinstance(delay, (int, float)) and not isinstance(delay, bool) else math.nan
        except OverflowError:  # an int beyond any float: finite, and too far ahead
            seconds = math.inf if delay > 0 else -math.inf
        if math.isnan(seconds) or seconds < 0 or (isinstance(delay, float) and math.isinf(delay)):
            raise JobValidationError("delay", f"must be a finite number of seconds >= 0, got {_short(delay)}")
        if seconds > MAX_DELAY_SECONDS:
            raise JobValidationError("delay", f"must be at most {MAX_DELAY_SECONDS:.0f} seconds ({MAX_DELAY.days} "
                                              f"days), got {_short(delay)}")
        return now + timedelta(seconds=seconds)
    if run_at is None:
        return None
    if not isinstance(run_at, datetime):
        raise JobValidationError("runAt", f"must be a date and time, got {type(run_at).__name__}")
    if timezone.is_naive(run_at):
        raise JobValidationError("runAt", "must carry a time zone")
    if run_at > now + MAX_DELAY:
        raise JobValidationError("runAt", f"must be at most {MAX_DELAY.days} days ahead, got {run_at.isoformat()}")
    try:
        run_at.astimezone(UTC)  # what the database stores; year 1 at UTC+5 has no UTC time
    except OverflowError:
        raise JobValidationError("runAt", f"is out of range: {run_at.isoformat()}") from None
    return run_at


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_WIDTH else f"{text[:_SHOWN_WIDTH]}... ({len(text)} characters)"
