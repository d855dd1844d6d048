"""`python -m soak` (what `make soak` runs) end to end, at a tiny size with its faults early:
it builds its own PostgreSQL and Redis, strikes every kind of fault, waits for the jobs, and
writes a report with every figure the README explains, whose values hold together.

The figures that make the soak fail are asserted too: at this size, with short recovery
settings, no job may be lost, none completed without its effect, no double effect without a
lost or interrupted attempt to explain it, no concurrency limit exceeded.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.own_postgres import OwnPostgres, server_bin_dir

pytestmark = [pytest.mark.slow, pytest.mark.workers]

REPO = Path(__file__).resolve().parents[2]
BIN = server_bin_dir()
JOBS = 60
STRIPPED_PREFIXES = ("DJANGO_", "CELERY_", "JOBS_", "CONVEYOR_", "BENCH_")
FIGURES = ("planned", "created", "completed", "failed", "cancelled", "lost", "completed_without_effect",
           "double_effects", "double_effects_explained", "double_effects_unexplained", "limit_violations",
           "deliveries", "handler_starts", "deliveries_that_ran_nothing", "processes_exited_by_themselves",
           "seconds_from_last_fault_to_all_terminal")


def soak_environment() -> dict[str, str]:
    """The environment of a shell that runs `make soak`: none of the suite's settings."""
    env = {name: value for name, value in os.environ.items()
           if name not in {"DATABASE_URL", "REDIS_URL", "PYTHONPATH"} and not name.startswith(STRIPPED_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_soak(args: list[str], timeout: float = 240) -> tuple[int, str]:
    """Run the soak; on a timeout, SIGTERM it (it stops what it started) before killing it.
    Its own PostgreSQL is not its child (pg_ctl detaches it): stop it here if it survived."""
    process = subprocess.Popen([sys.executable, "-m", "soak", *args], cwd=REPO, env=soak_environment(), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        output += f"\n(the soak did not finish within {timeout:.0f}s)"
    found = re.search(r"soak folder (\S+)", output)
    if found:
        folder = Path(found.group(1))
        if BIN is not None and (folder / "postgres" / "data" / "postmaster.pid").exists():
            OwnPostgres(BIN, folder / "postgres", 0).stop()
        shutil.rmtree(folder, ignore_errors=True)
    return process.returncode, output


def test_the_soak_strikes_every_fault_and_reports_every_figure(tmp_path: Path) -> None:
    if BIN is None:
        pytest.skip("the soak needs the PostgreSQL server binaries (initdb, pg_ctl) for a server of its own; "
                    "none on PATH or under /usr/lib/postgresql/*/bin")
    results = tmp_path / "results"
    code, output = run_soak(["--jobs", str(JOBS), "--rate", "20", "--kills", "1", "--fault-start", "0.5",
                             "--fault-end", "3", "--redis-down", "1", "--postgres-down", "3", "--fast-recovery",
                             "--timeout", "150", "--progress-every", "5", "--results-dir", str(results)])
    written = list(results.glob("soak-*.json"))
    assert code in (0, 1) and len(written) == 1, f"the soak exited with {code}, reports {written}:\n{output[-6000:]}"
    report: dict[str, Any] = json.loads(written[0].read_text())

    # every figure, and the printed table
    missing = [key for key in FIGURES if key not in report]
    assert not missing, f"missing from the report: {missing}"
    for line in ("created", "lost (not terminal at the end)", "completed without effect", "double effects",
                 "concurrency-limit violations", "deliveries that ran nothing", "verdict:"):
        assert line in output, f"{line!r} is not in the printed report:\n{output[-4000:]}"
    assert (code == 0) == report["ok"] == (not report["problems"])

    # every kind of fault struck, each logged with its time, and each struck worker replaced
    kinds = [fault["kind"] for fault in report["faults"]]
    assert sorted(kinds) == ["postgres_restart", "redis_restart", "sigkill", "sigterm"], report["faults"]
    assert all(fault["t"] > 0 and fault["at"] >= 0 for fault in report["faults"])
    replaced = [entry for entry in report["noticed"] if entry["kind"] == "replacement"]
    assert len(replaced) >= 2, report["noticed"]
    assert report["recovery_settings"]["JOBS_HEARTBEAT_TIMEOUT"] == 6.0 and report["recovery_defaults"] is False

    # the figures hold together
    assert report["planned"] == report["created"] == JOBS
    assert report["completed"] + report["failed"] + report["cancelled"] + report["lost"] == report["created"]
    assert report["double_effects"] == report["double_effects_explained"] + report["double_effects_unexplained"]
    assert report["deliveries"] >= report["handler_starts"] >= report["completed"] - report["completed_without_effect"]
    assert report["deliveries_that_ran_nothing"] == report["deliveries"] - report["handler_starts"]
    assert report["details"]["effect_rows"] >= report["completed"] - report["completed_without_effect"]

    # and the platform held: what makes the soak fail is zero here
    problems = {key: report[key] for key in ("lost", "completed_without_effect", "double_effects_unexplained",
                                             "limit_violations") if report[key]}
    assert not problems, f"{problems}; examples: {report['details']['examples']}\n{output[-4000:]}"
    assert report["seconds_from_last_fault_to_all_terminal"] is not None
    assert report["seconds_from_last_fault_to_all_terminal"] >= 0
