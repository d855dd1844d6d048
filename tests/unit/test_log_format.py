"""The job context of log lines, the JSON format and the quiet periodic tasks
(`telemetry.logs`), and their wiring in config/settings.py's LOGGING. No database, no broker.
"""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetry import logs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines, through the job filter, into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.JobContextFilter())
    logger = logging.getLogger("tests.log_format")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_logged_during_a_job_carries_its_five_fields_and_one_after_it_none(captured) -> None:
    logger, stream = captured
    logger.info("before")
    token = logs.bind_job("j-1", job_type="demo.sleep", queue="default", worker="w1@host")
    logger.info("claimed")
    logs.annotate_job(attempt=2)
    logger.warning("running %s", "now")
    logs.unbind_job(token)
    logger.info("after")
    before, claimed, running, after = lines(stream)
    assert not set(logs.FIELDS) & set(before) and not set(logs.FIELDS) & set(after)
    assert {name: claimed.get(name) for name in logs.FIELDS} == {
        "job_id": "j-1", "job_type": "demo.sleep", "attempt": None, "queue": "default", "worker": "w1@host"}
    assert "attempt" not in claimed  # not known before the claim: absent rather than null
    assert {name: running[name] for name in logs.FIELDS} == {
        "job_id": "j-1", "job_type": "demo.sleep", "attempt": 2, "queue": "default", "worker": "w1@host"}
    assert running["message"] == "running now" and running["level"] == "WARNING"


def test_unbinding_restores_the_job_bound_before(captured) -> None:
    logger, stream = captured
    outer = logs.bind_job("outer", job_type="a")
    inner = logs.bind_job("inner", job_type="b")
    logs.annotate_job(attempt=3)
    logger.info("inner line")
    logs.unbind_job(inner)
    logger.info("outer line")
    logs.unbind_job(outer)
    assert logs.current_job() is None
    inner_line, outer_line = lines(stream)
    assert (inner_line["job_id"], inner_line["attempt"]) == ("inner", 3)
    assert outer_line["job_id"] == "outer" and "attempt" not in outer_line


def test_a_records_own_extra_is_not_overwritten(captured) -> None:
    logger, stream = captured
    token = logs.bind_job("bound", queue="default")
    logger.info("explicit", extra={"job_id": "given"})
    logs.unbind_job(token)
    assert lines(stream)[0]["job_id"] == "given"


def test_each_thread_sees_only_the_job_it_bound(captured) -> None:
    logger, stream = captured
    both_bound = threading.Barrier(2)

    def run(job_id: str) -> None:
        token = logs.bind_job(job_id, worker="threads@host")
        both_bound.wait(timeout=10)  # both jobs bound at once, as in a thread pool
        logger.info("line of %s", job_id)
        logs.unbind_job(token)

    threads = [threading.Thread(target=run, args=(job_id,)) for job_id in ("t-1", "t-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    found = {line["message"]: line["job_id"] for line in lines(stream)}
    assert found == {"line of t-1": "t-1", "line of t-2": "t-2"}
    assert logs.current_job() is None  # nothing leaked into this thread


def test_the_json_line_puts_time_first_and_keeps_the_traceback_but_not_celerys_data(captured) -> None:
    logger, stream = captured
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("it failed", extra={"data": {"args": "['job', 'token']"}})
    (line,) = lines(stream)
    assert next(iter(line)) == "time" and line["time"].endswith("+00:00")
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "tests.log_format", "it failed")
    assert line["process"] == os.getpid()
    assert "ValueError: bad value" in line["exc_info"]
    assert "data" not in line


def _record(name: str, level: int, msg: str, data: dict | None = None, args: tuple = ()) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, args or None, None)
    if data is not None:
        record.data = data
    return record


def test_celerys_info_lines_about_quiet_tasks_go_to_debug() -> None:
    quiet = logs.QuietTasks(["jobs.rescue_stale_jobs"])
    trace = logging.getLogger("tests.log_format.trace")
    trace.setLevel(logging.INFO)
    received = _record(trace.name, logging.INFO, "Task %(name)s[%(id)s] received",
                       {"name": "jobs.rescue_stale_jobs", "id": "1"})
    assert quiet.filter(received) is False  # the logger logs INFO and up: dropped
    assert received.levelname == "DEBUG"
    discarded = _record(trace.name, logging.INFO, "Discarding revoked task: %s[%s]",
                        args=("jobs.rescue_stale_jobs", "2"))
    assert quiet.filter(discarded) is False
    other = _record(trace.name, logging.INFO, "Task %(name)s[%(id)s] received", {"name": "jobs.run_job", "id": "3"})
    failed = _record(trace.name, logging.ERROR, "Task %(name)s[%(id)s] raised", {"name": "jobs.rescue_stale_jobs"})
    assert quiet.filter(other) is True and other.levelname == "INFO"
    assert quiet.filter(failed) is True and failed.levelname == "ERROR"
    trace.setLevel(logging.DEBUG)
    try:
        again = _record(trace.name, logging.INFO, "Task %(name)s[%(id)s] received",
                        {"name": "jobs.rescue_stale_jobs", "id": "4"})
        assert quiet.filter(again) is True and again.levelname == "DEBUG"  # kept, at DEBUG, under -l DEBUG
    finally:
        trace.setLevel(logging.NOTSET)


# --- the settings' LOGGING, in a process of its own ------------------------------------------

_LOG_SOME_LINES = """
import logging, logging.config
from config import settings
logging.config.dictConfig(settings.LOGGING)
logging.getLogger().setLevel(logging.INFO)  # as `celery worker -l INFO` does
from telemetry import logs
logs.bind_job("job-1", job_type="demo.sleep", attempt=1, queue="default", worker="w@h")
logging.getLogger("conveyor.worker").info("platform line")
logging.getLogger("handlers.demo").info("handler line")
logging.getLogger("celery.app.trace").info("Task %(name)s[%(id)s] succeeded", {"name": "jobs.run_job", "id": "t"},
                                           extra={"data": {"name": "jobs.run_job", "id": "t"}})
logging.getLogger("celery.app.trace").info("Task %(name)s[%(id)s] succeeded",
                                           {"name": "jobs.rescue_stale_jobs", "id": "r"},
                                           extra={"data": {"name": "jobs.rescue_stale_jobs", "id": "r"}})
logging.getLogger("django").warning("django line")
"""


def _run_logging(log_format: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("DJANGO_", "CELERY_", "JOBS_", "LOG_"))}
    env.update(PYTHONPATH=str(REPO), LOG_FORMAT=log_format)
    return subprocess.run([sys.executable, "-c", _LOG_SOME_LINES], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


def test_log_format_json_makes_every_logger_write_json_with_the_jobs_fields() -> None:
    done = _run_logging("json")
    assert done.returncode == 0, done.stderr
    written = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(line["logger"], line["message"]) for line in written] == [
        ("conveyor.worker", "platform line"), ("handlers.demo", "handler line"),
        ("celery.app.trace", "Task jobs.run_job[t] succeeded"), ("django", "django line")]
    for line in written:
        assert {name: line[name] for name in logs.FIELDS} == {
            "job_id": "job-1", "job_type": "demo.sleep", "attempt": 1, "queue": "default", "worker": "w@h"}, line


def test_log_format_plain_keeps_plain_lines() -> None:
    done = _run_logging("plain")
    assert done.returncode == 0, done.stderr
    written = done.stderr.splitlines()
    assert len(written) == 4 and not any(line.startswith("{") for line in written)
    assert written[0].endswith(" INFO conveyor.worker platform line")
    assert "rescue_stale_jobs" not in done.stderr


def test_an_unknown_log_format_stops_the_process_naming_the_variable() -> None:
    done = _run_logging("xml")
    assert done.returncode != 0
    assert "LOG_FORMAT='xml' is neither plain nor json." in done.stderr
