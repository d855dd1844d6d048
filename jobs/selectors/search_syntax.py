"""The syntax of the job list's search, read without a database: the words an operator types
into a JobSearch (`parse_search`), and the URL's time range into datetimes (`parse_time_range`).
SearchError names every word at fault at once. `jobs.selectors.search` applies a JobSearch to a
queryset; the syntax is documented there and in docs/console.md ("The job list").
"""
from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jobs.errors import JobValidationError
from jobs.states import parse_status

MIN_ID_PREFIX = 4  # hex digits: one job in 65,536 shares a 4-digit prefix

# the keys of `key:value`, by the JobSearch field they fill
KEYS: dict[str, str] = {
    "id": "ids", "type": "types", "status": "statuses", "queue": "queues", "dedup": "dedup_keys",
    "error": "errors", "org": "orgs", "organization": "orgs", "project": "projects", "by": "creators",
    "creator": "creators", "group": "error_groups",
}
# keys whose value may list several, comma-separated (a dedup key or an error text may hold a comma)
LISTED = frozenset({"ids", "types", "statuses", "queues", "orgs", "projects", "creators", "error_groups"})
INPUT_PREFIX = "input."
_UUID_DASHES = (8, 13, 18, 23)
_HEX = frozenset("0123456789abcdef")
_TZ_AFTER_SPACE = re.compile(r" (\d\d(:?\d\d)?)$")


class SearchError(JobValidationError):
    """Words of a search that cannot be read or that name nothing; `problems` has one message
    per word, each quoting it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("search", "; ".join(problems))


@dataclass(frozen=True)
class IdRange:
    """A job id, or every id that starts with a prefix: from `low` to `high` inclusive."""

    low: uuid.UUID
    high: uuid.UUID


@dataclass(frozen=True)
class InputMatch:
    """`input.<path>=<text>`: the input field at `path` equals the value the text means."""

    path: tuple[str, ...]
    text: str
    quoted: bool = False

    def candidates(self) -> list[Any]:
        """The JSON values the field may hold to match: the string always; unquoted, also the
        number, boolean or null the text spells (an operator typing 42 means either)."""
        values: list[Any] = [self.text]
        if self.quoted:
            return values
        lowered = self.text.lower()
        if lowered in ("true", "false"):
            values.append(lowered == "true")
        elif lowered == "null":
            values.append(None)
        else:
            for number_type in (int, float):
                try:
                    number = number_type(self.text)
                except ValueError:
                    continue
                if isinstance(number, int) or math.isfinite(number):
                    values.append(number)
                break
        return values


@dataclass(frozen=True)
class JobSearch:
    """Every filter of a search; empty tuples filter nothing. Within a field any value matches;
    across fields all must (`errors` and `inputs` are each a condition of their own)."""

    ids: tuple[IdRange, ...] = ()
    types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    dedup_keys: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    inputs: tuple[InputMatch, ...] = ()
    orgs: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    creators: tuple[str, ...] = ()
    # failure groups (`jobs.error_groups`), as the console's failure groups link to them
    error_groups: tuple[str, ...] = ()
    created_gte: datetime | None = None
    created_lt: datetime | None = None

    @property
    def reads_rows(self) -> bool:
        """Whether a filter has no index and is checked row by row (so the scan is bounded)."""
        return bool(self.queues or self.errors or self.inputs)

    @property
    def is_empty(self) -> bool:
        return self == JobSearch()


@dataclass
class _Token:
    raw: str
    key: str | None
    value: str
    quoted: bool


@dataclass
class _Collected:
    values: dict[str, list[Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, name: str, value: Any) -> None:
        bucket = self.values.setdefault(name, [])
        if value not in bucket:
            bucket.append(value)


# --- reading the words ------------------------------------------------------------------------


def parse_search(text: str) -> JobSearch:
    """The search typed as `text`, or SearchError listing each word that cannot be read."""
    tokens, problems = _tokens(text or "")
    found = _Collected(problems=problems)
    for token in tokens:
        _read(token, found)
    if found.problems:
        raise SearchError(found.problems)
    fields: dict[str, Any] = {name: tuple(values) for name, values in found.values.items()}
    return JobSearch(**fields)


def _tokens(text: str) -> tuple[list[_Token], list[str]]:
    """Words split at spaces outside double quotes; the first ':' or '=' outside quotes
    separates a key from its value. A backslash escapes a quote inside quotes."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start, key, quoted = i, None, False
        chars: list[str] = []
        while i < n and not text[i].isspace():
            char = text[i]
            if char == '"':
                quoted = quoted or not chars
                i += 1
                while i < n and text[i] != '"':
                    if text[i] == "\\" and i + 1 < n:
                        i += 1
                    chars.append(text[i])
                    i += 1
                if i >= n:
                    return tokens, [f"{text[start:]!r}: a quote is not closed"]
                i += 1
            elif char in ":=" and key is None:
                key, chars, quoted = "".join(chars), [], False
                i += 1
            else:
                chars.append(char)
                i += 1
        tokens.append(_Token(raw=text[start:i], key=key, value="".join(chars), quoted=quoted))
    return tokens, []


def _read(token: _Token, found: _Collected) -> None:
    if token.key is None:
        _read_free(token, found)
        return
    key = token.key.strip().lower()
    if key.startswith(INPUT_PREFIX) or key == "input":
        _read_input(token, key, found)
        return
    name = KEYS.get(key)
    if name is None:
        known = ", ".join(f"{k}:" for k in KEYS) + f", {INPUT_PREFIX}<field>="
        found.problems.append(f"{token.raw!r}: unknown key {token.key!r}; known keys: {known}")
        return
    if not token.value.strip() and not token.quoted:
        found.problems.append(f"{token.raw!r}: {key}: needs a value")
        return
    values = [token.value] if name not in LISTED else [part.strip() for part in token.value.split(",")]
    for value in values:
        if not value:
            found.problems.append(f"{token.raw!r}: an empty value between commas")
        elif name == "ids":
            _read_id(token.raw, value, found)
        elif name == "error_groups" and (len(value) != 32 or not set(value.lower()) <= _HEX):
            found.problems.append(f"{token.raw!r}: an error group is 32 hex digits, as the failure groups page "
                                  "links to it")
        elif name == "statuses":
            try:
                found.add(name, parse_status(value))
            except ValueError as exc:
                found.problems.append(f"{token.raw!r}: {exc}")
        else:
            found.add(name, value)


def _read_free(token: _Token, found: _Collected) -> None:
    """A word without a key is a job id or an id prefix; anything else is a mistake that the
    message helps to correct."""
    text = token.value.strip()
    if not token.quoted and _looks_like_id(text):
        _read_id(token.raw, text, found)
        return
    hint = f'error:"{text}"' if token.quoted or " " in text else f"type:{text}"
    found.problems.append(
        f"{token.raw!r} is not a job id: a word without a key is a job id or its first characters "
        f"(hex digits); to search another field write key:value, such as {hint}"
    )


def _looks_like_id(text: str) -> bool:
    return bool(text) and all(char in _HEX or char == "-" for char in text.lower())


def _read_id(raw: str, text: str, found: _Collected) -> None:
    try:
        found.add("ids", id_range(text))
    except ValueError as exc:
        found.problems.append(f"{raw!r}: {exc}")


def id_range(text: str) -> IdRange:
    """A whole job id, or a prefix of one as it is written (dashes where a UUID has them), as
    the range of ids it covers. ValueError says what is wrong with it."""
    cleaned = text.strip().lower()
    if len(cleaned) in (32, 36):
        try:
            whole = uuid.UUID(cleaned)
        except ValueError:
            pass
        else:
            return IdRange(whole, whole)
    for position, char in enumerate(cleaned):
        if char == "-" and position not in _UUID_DASHES:
            raise ValueError(f"{text!r} is not the start of a job id: a dash is only at positions 9, 14, 19 and 24")
        if char != "-" and char not in _HEX:
            raise ValueError(f"{text!r} is not a job id: a job id is hex digits (0-9, a-f) and dashes")
    digits = cleaned.replace("-", "")
    if len(digits) < MIN_ID_PREFIX:
        raise ValueError(f"{text!r} is too short for an id prefix: give at least {MIN_ID_PREFIX} hex digits")
    if len(digits) > 32:
        raise ValueError(f"{text!r} is longer than a job id (32 hex digits)")
    return IdRange(uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f")))


def _read_input(token: _Token, key: str, found: _Collected) -> None:
    assert token.key is not None
    path = tuple(token.key.strip()[len(INPUT_PREFIX):].split(".")) if key != "input" else ()
    if not path or any(not part for part in path):
        found.problems.append(f"{token.raw!r}: name the input field, such as input.customer_id=42")
    elif not token.value and not token.quoted:
        found.problems.append(f"{token.raw!r}: needs a value (write input.{'.'.join(path)}=\"\" for an empty string)")
    else:
        found.add("inputs", InputMatch(path=path, text=token.value, quoted=token.quoted))


def parse_time_range(gte: str | None, lt: str | None) -> tuple[datetime | None, datetime | None]:
    """`created__gte` and `created__lt` as aware datetimes (ISO 8601; a date alone is its
    midnight; no offset means UTC); SearchError naming the parameter otherwise."""
    problems: list[str] = []
    moments: list[datetime | None] = []
    for name, raw in (("created__gte", gte), ("created__lt", lt)):
        try:
            moments.append(_moment(raw))
        except ValueError:
            moments.append(None)
            problems.append(f"{name}={raw!r} is not a date and time in ISO 8601, such as 2024-05-01T12:00:00Z")
    since, until = moments
    if since is not None and until is not None and since >= until:
        problems.append(f"created__gte ({_iso(since)}) must be before created__lt ({_iso(until)})")
    if problems:
        raise SearchError(problems)
    return since, until


def _moment(raw: str | None) -> datetime | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    # a '+' of the offset typed into a URL arrives as a space
    text = _TZ_AFTER_SPACE.sub(r"+\1", text) if "T" in text or text.count(" ") > 1 else text
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
