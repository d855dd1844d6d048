"""What the bench reads of the machine it runs on: the CPU time of processes, and the line that
describes the machine under the table (figures are only comparable on the same one).
"""
from __future__ import annotations

import platform
from urllib.parse import urlsplit

import psutil


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def server_pids(kind: str, redis_url: str) -> list[int]:
    """The processes of the Redis server or of PostgreSQL on this machine."""
    if kind == "redis":
        port = urlsplit(redis_url).port if redis_url.startswith("redis://") else None
        pids = []
        for p in psutil.process_iter(["name", "cmdline"]):
            cmd = " ".join(p.info["cmdline"] or [])
            ours = port is None or f":{port}" in cmd or (redis_url.startswith("redis+socket") and "unixsocket" in cmd)
            if "redis-server" in (p.info["name"] or "") + cmd and ours:
                pids.append(p.pid)
        return pids
    return [p.pid for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("postgres")]


def postgres_cpu_seconds() -> float:
    """CPU of every PostgreSQL process, those that already exited included (a backend lives
    as long as its connection; the postmaster accumulates its reaped children's time)."""
    total = 0.0
    for p in psutil.process_iter(["name", "ppid"]):
        if not (p.info["name"] or "").startswith("postgres"):
            continue
        try:
            t = p.cpu_times()
            total += t.user + t.system
            if psutil.Process(p.info["ppid"]).name() != "postgres":  # the postmaster
                total += t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def describe(embedded: bool) -> str:
    return (f"{platform.machine()}, {psutil.cpu_count()} CPUs, "
            f"{round(psutil.virtual_memory().total / 2**30)} GiB, Python {platform.python_version()}, "
            f"{'SQLite + embedded Redis' if embedded else 'PostgreSQL + Redis'}")
