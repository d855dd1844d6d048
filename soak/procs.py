"""Child processes of the soak: each in a session of its own (so that a whole worker, its pool
processes included, is one process group to kill), logging to a file, stopped by PID."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil


class Child:
    """One process the soak started: a worker, beat, or a one-off command."""

    def __init__(self, name: str, kind: str, args: list[str], env: dict[str, str], cwd: Path, log_dir: Path,
                 ready_text: str) -> None:
        self.name = name
        self.ready_text = ready_text
        self._ready = False
        self.kind = kind
        self.args = args
        self.env = env
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        # every pid seen in the group, to end leftovers once the main process is reaped
        self.known_pids: set[int] = set()

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(self.args, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        self.started_at = time.time()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def ready(self) -> bool:
        """True once the process printed its ready line (checked in its log until then)."""
        self._ready = self._ready or self.ready_text in self.log()
        return self._ready

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def pids(self) -> list[int]:
        """The main process and its children (a prefork worker's pool), cheaply: the kernel's
        list of each thread's children rather than a scan of every process on the machine."""
        if not self.alive():
            return []
        found = [self.pid]
        tasks = Path(f"/proc/{self.pid}/task")
        try:
            for task in tasks.iterdir():
                try:
                    found += [int(pid) for pid in (task / "children").read_text().split()]
                except (FileNotFoundError, ProcessLookupError, ValueError):
                    continue
        except FileNotFoundError:
            try:  # no /proc children lists here: ask psutil (slower)
                found += [child.pid for child in psutil.Process(self.pid).children(recursive=True)]
            except psutil.Error:
                pass
        self.known_pids.update(found)
        return found

    def send(self, sig: int) -> None:
        """A signal to the main process only (Celery's warm shutdown starts there)."""
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill_group(self, wait: float = 10.0) -> None:
        """SIGKILL the process and everything in its session.

        Only while the main process is not reaped (alive or a zombie, its pid cannot have been
        reused) is the group id surely ours; after that, leftovers are killed one by one, by
        the pids seen in the group that still carry its id."""
        if self.popen is None:
            return
        if self.popen.returncode is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        else:
            for pid in self.known_pids - {self.popen.pid}:
                try:
                    if os.getpgid(pid) == self.popen.pid:
                        os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        try:
            self.popen.wait(wait)
        except subprocess.TimeoutExpired:
            pass

    def wait(self, timeout: float) -> bool:
        """True when the process exited within `timeout` seconds."""
        if self.popen is None:
            return True
        try:
            self.popen.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
