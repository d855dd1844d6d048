"""The event files: what every worker process did, written by `soak.handlers` and read by
`soak.report`.

Each process appends JSON lines to a file of its own, `<SOAK_DIR>/events/<pid>.jsonl`:

    {"e": "delivery", "t": ..., "pid": ..., "pgid": ..., "job": ...}          a run_job delivery
    {"e": "start", "t": ..., "pid": ..., "pgid": ..., "job": ..., "attempt": ..., "type": ...,
     "key": ..., "run": ...}                                                    a handler starts
    {"e": "end", ... the same ..., "ok": true}                                  a handler ends

Files, not the database or Redis: they survive both servers' restarts, and a line written
before a SIGKILL is kept (each line is one write(2) on an O_APPEND descriptor, so it is in the
page cache the moment the call returns, and lines never interleave).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from soak.spec import DIR_ENV, EVENTS_SUBDIR

_fd: int | None = None
_fd_pid: int | None = None


def _descriptor() -> int | None:
    """This process's event file, opened on first use and again after a fork (a prefork pool
    process must not write into its parent's file)."""
    global _fd, _fd_pid
    pid = os.getpid()
    if _fd is not None and _fd_pid == pid:
        return _fd
    folder = os.environ.get(DIR_ENV)
    if not folder:
        return None  # not under the soak (a worker of another set-up imported the module)
    path = Path(folder) / EVENTS_SUBDIR
    path.mkdir(parents=True, exist_ok=True)
    _fd = os.open(path / f"{pid}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    _fd_pid = pid
    return _fd


def record(kind: str, **fields: Any) -> None:
    """Append one event of this process, stamped with time.time(), the pid and the process
    group (a worker's group is its main process: the soak kills workers by group)."""
    fd = _descriptor()
    if fd is None:
        return
    line = {"e": kind, "t": time.time(), "pid": os.getpid(), "pgid": os.getpgid(0), **fields}
    os.write(fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())


def read_all(folder: Path) -> list[dict[str, Any]]:
    """Every event of every process, oldest first. A last line cut short by a kill is skipped."""
    events: list[dict[str, Any]] = []
    for path in sorted((folder / EVENTS_SUBDIR).glob("*.jsonl")):
        for raw in path.read_text(errors="replace").splitlines():
            try:
                events.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
    events.sort(key=lambda event: event["t"])
    return events
