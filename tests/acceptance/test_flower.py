"""Flower as `config.flower` runs it, against real workers, the suite's Redis and database.

- every page, /metrics and /healthcheck included, asks for the login; without one Flower
  refuses to start;
- the Broker tab lists every queue a job can be published to, each with its messages summed
  over the Redis priority lists, even while the only worker consumes other queues;
- task events are on by default: each run_job is listed with its job id and type, found by
  either; the admin's derived task id is the one Flower shows; and the history survives a
  restart of Flower (persistent mode);
- the admin's job page links the job's current task in Flower, or says that it has no message.
(The same in Chromium, through `make run`'s launcher: test_flower_browser.py.)
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from base64 import b64encode
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest
from django.conf import settings
from django.test import override_settings

from config.celery import app as celery_app
from config.embedded_redis import free_port
from config.flower_options import all_queues
from jobs import services
from jobs.models import Job, run_job_task_id
from jobs.publishing import broker
from jobs.testing import jobs_recorded
from tests.processes import BASE_DIR, Process, ProcessGroup, child_environment, wait_for

pytestmark = pytest.mark.slow

LOGIN = "ops:flower-test-password"
# Flower's /api/tasks: task id -> the task's fields
Tasks = dict[str, dict[str, Any]]
# a queue of the configured list that no worker of these tests consumes
IDLE_QUEUE = "attachments"


class Flower:
    """A `python -m config.flower` of the test's own, on a free port, with its own var/ folder."""

    def __init__(self, group: ProcessGroup, var_dir: Path, **env: str) -> None:
        self.group = group
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.var_dir = var_dir
        self.env = child_environment(FLOWER_BASIC_AUTH=LOGIN, CONVEYOR_VAR_DIR=str(var_dir), **env)
        self.process: Process | None = None

    def start(self) -> Flower:
        args = [sys.executable, "-m", "config.flower", "--address=127.0.0.1", f"--port={self.port}"]
        self.process = Process(f"flower-{uuid.uuid4().hex[:6]}", args, self.env, self.group.log_dir)
        self.group.processes.append(self.process)  # killed at teardown whatever happens
        self.process.start()
        wait_for(lambda: self._answering(), timeout=60, message="Flower to answer")
        return self

    def _answering(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise AssertionError(f"Flower exited:\n{self.process.log()[-3000:]}")
        return status(f"{self.base}/healthcheck") is not None

    def stop(self) -> int:
        """SIGTERM, as the launcher and systemd stop it (Flower saves its history then)."""
        assert self.process is not None
        self.process.signal(signal.SIGTERM)
        return self.process.wait(30)

    def get(self, path: str, **query: str) -> Any:
        url = f"{self.base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        with urllib.request.urlopen(request(url, LOGIN), timeout=10) as response:
            body = response.read().decode()
        return json.loads(body) if response.headers.get_content_type() == "application/json" else body

    def tasks(self, search: str) -> Tasks:
        return self.get("/api/tasks", search=search)


def request(url: str, auth: str | None) -> urllib.request.Request:
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + b64encode(auth.encode()).decode())
    return req


def status(url: str, auth: str | None = None) -> int | None:
    try:
        with urllib.request.urlopen(request(url, auth), timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def completed(job: Job) -> bool:
    return Job.objects.filter(pk=job.pk, status="completed").exists()


@pytest.fixture
def flower(processes: ProcessGroup, tmp_path: Path) -> Flower:
    return Flower(processes, tmp_path / "var")


def test_every_page_metrics_and_healthcheck_included_asks_for_the_login(flower: Flower) -> None:
    flower.start()
    for path in ("/", "/tasks", "/broker", "/metrics", "/healthcheck", "/api/workers", "/api/queues/length"):
        assert status(flower.base + path) == 401, path
        assert status(flower.base + path, auth="ops:wrong") == 401, path
        assert status(flower.base + path, auth=LOGIN) == 200, path
    assert flower.get("/healthcheck") == "OK"
    assert "flower_events_total" in flower.get("/metrics")


@pytest.mark.parametrize(("login", "message"), [
    (None, "Flower needs a login: set FLOWER_BASIC_AUTH=user:password"),
    ("ops", "FLOWER_BASIC_AUTH must be user:password"),
])
def test_flower_without_a_valid_login_does_not_start(tmp_path: Path, login: str | None, message: str) -> None:
    env = child_environment(CONVEYOR_VAR_DIR=str(tmp_path / "var"))
    env.pop("FLOWER_BASIC_AUTH", None)
    env.pop("FLOWER_AUTH", None)
    if login is not None:
        env["FLOWER_BASIC_AUTH"] = login
    done = subprocess.run([sys.executable, "-m", "config.flower", f"--port={free_port()}"], cwd=BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.workers
def test_the_broker_tab_lists_every_queue_with_its_priority_lists_summed(processes: ProcessGroup,
                                                                          flower: Flower) -> None:
    worker = processes.worker(queues=f"{settings.JOBS_DEFAULT_QUEUE},{settings.JOBS_SYSTEM_QUEUE}")
    # job priorities 1, 5 and 10 land in three Redis lists of the queue: attachments,
    # attachments:4 and attachments:9
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(IDLE_QUEUE)
        for priority in (1, 5, 5, 10):
            broker.send_run_job(job_id=uuid.uuid4(), token=uuid.uuid4(), job_type="demo.sleep", queue=IDLE_QUEUE,
                                priority=priority, countdown=None)
        client = conn.default_channel.client
        lists = {name: client.llen(name) for name in (IDLE_QUEUE, f"{IDLE_QUEUE}:4", f"{IDLE_QUEUE}:9")}
    try:
        assert lists == {IDLE_QUEUE: 1, f"{IDLE_QUEUE}:4": 2, f"{IDLE_QUEUE}:9": 1}
        flower.start()
        # Flower knows the worker, so the queues it consumes are the "active" ones
        wait_for(lambda: any(name.startswith(worker.name) for name in flower.get("/api/workers", refresh="1")),
                 timeout=30, message="Flower to know the worker")
        lengths = {q["name"]: q["messages"] for q in flower.get("/api/queues/length")["active_queues"]}
        expected = all_queues()
        assert set(expected) <= set(lengths), f"missing from Flower: {set(expected) - set(lengths)}"
        assert lengths[IDLE_QUEUE] == 4
        page = flower.get("/broker")
        rows = dict(re.findall(r'<tr id="[^"]+">\s*<td>([^<]+)</td>\s*<td[^>]*>([^<]*)</td>', page))
        assert set(expected) <= set(rows), f"missing from the Broker tab: {set(expected) - set(rows)}"
        assert rows[IDLE_QUEUE].strip() == "4"
    finally:
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge(IDLE_QUEUE)


@pytest.mark.workers
def test_each_run_job_is_found_by_job_id_and_type_and_survives_a_restart(processes: ProcessGroup,
                                                                         flower: Flower) -> None:
    worker = processes.worker()  # the suite sets no CELERY_* variable: task events at their default
    flower.start()
    # the events receiver is live once a heartbeat of the worker came through it
    online = re.compile(rf'flower_worker_online\{{worker="{re.escape(worker.name)}@[^"]*"\}} 1\.0')
    wait_for(lambda: online.search(flower.get("/metrics")), timeout=30, message="Flower to receive events")

    sleeper = services.job_create(type="demo.sleep", input={"seconds": 0, "steps": 1}).job
    flaky = services.job_create(type="test.flaky_fast", input={"failures": 1}).job  # two deliveries
    for job in (sleeper, flaky):
        wait_for(partial(completed, job), timeout=60, message=f"job {job.pk} to complete")
    sleeper.refresh_from_db()
    flaky.refresh_from_db()

    def succeeded(job: Job, count: int) -> Tasks | None:
        found = flower.tasks(str(job.pk))
        done = all(task["state"] == "SUCCESS" for task in found.values())
        return found if len(found) == count and done else None

    found = cast(Tasks, wait_for(lambda: succeeded(sleeper, 1), timeout=30,
                                 message="Flower to list the sleeper's task"))
    assert list(found) == [run_job_task_id(sleeper.pk, sleeper.token)]  # the id the admin links to
    task = found[run_job_task_id(sleeper.pk, sleeper.token)]
    assert task["name"] == "jobs.run_job"
    assert str(sleeper.pk) in task["args"] and "demo.sleep" in task["kwargs"]
    # earlier attempts: each delivery is a task of its own, all found by the job id; the job's
    # current token names the last one
    attempts = cast(Tasks, wait_for(lambda: succeeded(flaky, 2), timeout=30,
                                    message="Flower to list both flaky deliveries"))
    assert run_job_task_id(flaky.pk, flaky.token) in attempts
    assert all(str(flaky.pk) in task["args"] for task in attempts.values())
    assert set(flower.tasks("kwargs:job_type=test.flaky_fast")) == set(attempts)
    assert set(flower.tasks("kwargs:job_type=demo.sleep")) == set(found)

    # no events can reach the next Flower: whatever it shows, it read from its state file
    worker.stop()
    assert flower.stop() == 0
    assert list((flower.var_dir / "flower").glob("flower-state*")), "no state file under var/flower/"
    flower.start()
    info = flower.get(f"/api/task/info/{run_job_task_id(sleeper.pk, sleeper.token)}")
    assert str(sleeper.pk) in info["args"] and info["state"] == "SUCCESS"
    assert set(flower.tasks(str(flaky.pk))) == set(attempts)


@override_settings(FLOWER_URL="https://flower.example.com")
def test_the_admin_job_page_links_the_current_task_in_flower(admin_client: Any) -> None:
    with jobs_recorded():
        published = services.job_create(type="demo.sleep").job
        held = services.job_create(type="demo.sleep", delay=3600).job  # waits in the database

    page = admin_client.get(f"/admin/jobs/job/{published.pk}/change/").content.decode()
    link = f'href="https://flower.example.com/task/{run_job_task_id(published.pk, published.token)}"'
    assert link in page
    assert "search the job id in the Tasks tab of Flower" in page

    page = admin_client.get(f"/admin/jobs/job/{held.pk}/change/").content.decode()
    assert "no message yet" in page and "flower.example.com/task/" not in page
