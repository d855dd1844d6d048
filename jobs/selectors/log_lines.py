"""A job's last log lines, as its handler wrote them with `ctx.log()`: how they are kept in
Redis, and reading them for the job's page.

Each job that logs has one capped list in the broker's Redis, `conveyor:joblog:<job id>`,
newest line first: the worker pushes each line and trims the list to JOBS_LOG_LINES_KEPT
(`jobs.worker.log_lines`), and the list expires JOBS_LOG_RETENTION_SECONDS after the last
line. A line is a small JSON object: time (Unix seconds), attempt, level name, message. Nothing
about the lines is in the database: keeping them costs the job's row no write.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from telemetry import redis_client

KEY_PREFIX = "conveyor:joblog:"
# a longer message is cut: a handler logging a whole payload must not fill Redis
MESSAGE_MAX_CHARS = 2000


def lines_kept() -> int:
    """How many lines are kept per job (JOBS_LOG_LINES_KEPT; 0 keeps none)."""
    return int(settings.JOBS_LOG_LINES_KEPT)


def retention_seconds() -> int:
    """How long a job's lines stay after its last one (JOBS_LOG_RETENTION_SECONDS)."""
    return int(settings.JOBS_LOG_RETENTION_SECONDS)


def log_key(job_id: Any) -> str:
    return f"{KEY_PREFIX}{job_id}"


@dataclass(frozen=True)
class LogLine:
    """One line a handler logged."""

    at: datetime
    attempt: int
    level: str
    message: str

    def encode(self) -> str:
        return json.dumps({"t": round(self.at.timestamp(), 3), "a": self.attempt, "l": self.level,
                           "m": self.message[:MESSAGE_MAX_CHARS]}, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: bytes | str) -> LogLine:
        data = json.loads(raw)
        return cls(at=datetime.fromtimestamp(float(data["t"]), tz=UTC), attempt=int(data["a"]),
                   level=str(data["l"]), message=str(data["m"]))

    @classmethod
    def new(cls, *, attempt: int, level: int, message: str, at: datetime | None = None) -> LogLine:
        return cls(at=at or datetime.now(tz=UTC), attempt=attempt, level=logging.getLevelName(level),
                   message=message[:MESSAGE_MAX_CHARS])


@dataclass(frozen=True)
class JobLogLines:
    """A job's kept lines, oldest first, or why they could not be read."""

    lines: list[LogLine]
    kept: int  # at most this many are kept per job
    problem: str = ""

    @property
    def maybe_more(self) -> bool:
        """Whether older lines may have been dropped (the list is full)."""
        return self.kept > 0 and len(self.lines) >= self.kept


def job_log_lines(*, job_id: Any) -> JobLogLines:
    """The job's kept log lines, oldest first; an unreachable Redis is a `problem`, not an
    error (the page shows everything else)."""
    kept = lines_kept()
    if kept == 0:
        return JobLogLines(lines=[], kept=0)
    try:
        raw: list[bytes] = redis_client.client().lrange(log_key(job_id), 0, kept - 1)  # type: ignore[assignment]
    except Exception as exc:  # redis' errors, and a broker URL that is not Redis
        return JobLogLines(lines=[], kept=kept, problem=f"the log lines could not be read from Redis ({exc})")
    lines = []
    for item in reversed(raw):
        try:
            lines.append(LogLine.decode(item))
        except (ValueError, KeyError, TypeError):
            continue  # not a line of this version
    return JobLogLines(lines=lines, kept=kept)
