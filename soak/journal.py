"""The soak's log of what it did and saw (faults, replacements, workers that exited on their
own), each entry with its wall-clock time, printed as it happens and kept for the report."""
from __future__ import annotations

import sys
import threading
import time
from typing import Any


class Journal:
    def __init__(self) -> None:
        self.t0 = time.time()
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def elapsed(self, t: float | None = None) -> float:
        return (time.time() if t is None else t) - self.t0

    def say(self, message: str) -> None:
        """A line on stdout, prefixed with the seconds since the soak started."""
        print(f"[{self.elapsed():7.1f}s] {message}", file=sys.stdout, flush=True)

    def add(self, kind: str, message: str, t: float | None = None, **fields: Any) -> dict[str, Any]:
        """Record an entry (a fault, or something the soak noticed) and print it."""
        entry = {"kind": kind, "t": time.time() if t is None else t, **fields, "message": message}
        entry["at"] = round(self.elapsed(entry["t"]), 3)
        with self._lock:
            self.entries.append(entry)
        self.say(f"{kind}: {message}")
        return entry

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        with self._lock:
            return [entry for entry in self.entries if entry["kind"] in kinds]
