"""The overview's panels: the at-risk lists (stale heartbeats, runs past their type's p99, jobs
rescued more than once, queued jobs past their queue-wait timeout), each bounded; the schedules
with their last and next tick and the ticks missed or late; the warning for a queue with due jobs
and no worker; and the shared reading itself (one computation for viewers at once, a new one
when it is older than JOBS_CONSOLE_REFRESH_SECONDS, none shared when the database failed)."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from console import overview, panels, rollup, shared
from console.selectors.at_risk import at_risk
from console.selectors.schedules import schedules_panel
from observability import gauges
from scheduler import services as schedule_services
from scheduler.models import ScheduledJob
from telemetry import liveness, redis_client
from tests.factories import make_job, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_redis() -> Iterator[None]:
    redis_client.client().flushdb()
    yield
    redis_client.client().flushdb()


def ids(part: dict[str, Any]) -> set[str]:
    return {job["id"] for job in part["jobs"]}


# --- at risk --------------------------------------------------------------------------------------


def test_the_at_risk_panel_lists_each_kind_of_job() -> None:
    now = timezone.now()
    stale = make_job("running", heartbeat_at=now - timedelta(minutes=5))
    fresh = make_job("running", heartbeat_at=now)
    overrunning = make_job("running", type="demo.sleep", started_at=now - timedelta(seconds=30))
    within = make_job("running", type="demo.sleep", started_at=now - timedelta(seconds=5))
    other_type = make_job("running", type="demo.fail", started_at=now - timedelta(seconds=30))
    rescued = make_job("queued", rescues=2)
    once = make_job("queued", rescues=1)
    rescued_done = make_job("failed", rescues=3)
    expired = make_job("queued", expires_at=now - timedelta(seconds=1))
    waiting = make_job("queued", expires_at=now + timedelta(minutes=5))

    found = at_risk(run_p99={"demo.sleep": 10.0}, now=now)

    assert ids(found["stale"]) == {str(stale.pk)}
    assert ids(found["overrunning"]) == {str(overrunning.pk)}
    assert found["overrunning"]["jobs"][0]["p99"] == 10.0
    assert ids(found["rescued"]) == {str(rescued.pk)}
    assert ids(found["expired"]) == {str(expired.pk)}
    everything = set().union(*(ids(part) for part in found.values()))
    assert not everything & {str(job.pk) for job in (fresh, within, other_type, once, rescued_done, waiting)}


def test_each_at_risk_list_is_bounded_and_says_there_is_more() -> None:
    old = timezone.now() - timedelta(minutes=5)
    for _ in range(5):
        make_job("running", heartbeat_at=old)
    found = at_risk(run_p99={}, limit=3)
    assert len(found["stale"]["jobs"]) == 3 and found["stale"]["more"] is True
    assert found["expired"] == {"jobs": [], "more": False}


def test_runs_past_p99_need_enough_runs_behind_the_p99() -> None:
    now = timezone.now()
    for index in range(25):
        make_job("completed", type="demo.sleep", completed_at=now - timedelta(seconds=70 + index), actual_duration=0.3)
    make_job("completed", type="demo.fail", completed_at=now - timedelta(seconds=70), actual_duration=0.3)
    slow = make_job("running", type="demo.sleep", started_at=now - timedelta(seconds=60))
    make_job("running", type="demo.fail", started_at=now - timedelta(seconds=60))  # one run: no p99 trusted
    while rollup.rollup_minutes().through < rollup.floor_minute(now):
        pass
    reading = overview.compute_overview()
    assert set(overview.run_p99(reading["buckets"]["types"])) == {"demo.sleep"}
    assert ids(reading["at_risk"]["overrunning"]) == {str(slow.pk)}
    shown = panels.at_risk_panels(reading, time.time())
    assert shown[1]["key"] == "overrunning" and shown[1]["jobs"][0]["url"] == f"/admin/jobs/job/{slow.pk}/change/"


# --- schedules ------------------------------------------------------------------------------------


def _rows(panel: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in panel["rows"]}


def test_schedules_show_their_ticks_and_the_ticks_they_missed() -> None:
    now = timezone.now()
    owner = make_user("planner")
    behind = schedule_services.schedule_create(owner=owner, name="behind", job_type="demo.sleep",
                                               frequency="interval", interval_seconds=60, input={"seconds": 0})
    # its next tick was due 10 minutes 30 seconds ago: 11 ticks (at -10m30s, -9m30s ... -30s) not fired
    ScheduledJob.objects.filter(pk=behind.pk).update(next_run_at=now - timedelta(minutes=10, seconds=30))
    fine = schedule_services.schedule_create(owner=owner, name="fine", job_type="demo.sleep", frequency="daily",
                                             time_of_day="03:00", input={"seconds": 0})
    ScheduledJob.objects.filter(pk=fine.pk).update(
        last_run_at=now - timedelta(hours=2), last_fired_at=now - timedelta(hours=2) + timedelta(minutes=2),
        last_outcome="created")

    panel = schedules_panel(beat_last_tick=time.time(), now=now)

    rows = _rows(panel)
    assert panel["rows"][0]["name"] == "behind", "missed schedules come first"
    assert rows["behind"]["missed"] == 11 and rows["behind"]["late"] == pytest.approx(630, abs=1)
    assert panel["overdue"] == 1
    assert rows["fine"]["missed"] == 0 and rows["fine"]["late"] == 0.0
    assert rows["fine"]["next_tick"] > now.timestamp()
    assert rows["fine"]["last_late"] == pytest.approx(120)  # its last tick fired two minutes late


def test_task_schedules_are_judged_by_beats_liveness() -> None:
    schedule_services.schedules_sync()
    now = timezone.now()
    running = _rows(schedules_panel(beat_last_tick=time.time(), now=now))
    rescuer = running["jobs:rescue-stale"]
    assert rescuer["starts"] == "task jobs.rescue_stale_jobs" and rescuer["missed"] == 0
    assert "console:rollup-minutes" in running
    stopped = _rows(schedules_panel(beat_last_tick=time.time() - 120, now=now))["jobs:rescue-stale"]
    # the test environment's rescuer runs every second: two minutes of silence, 120 ticks
    assert stopped["missed"] == pytest.approx(120, abs=1) and "beat stopped" in stopped["note"]


def test_the_schedules_panel_is_bounded() -> None:
    owner = make_user("many")
    for index in range(4):
        schedule_services.schedule_create(owner=owner, name=f"s{index}", job_type="demo.sleep", frequency="daily",
                                          time_of_day="03:00", input={"seconds": 0})
    panel = schedules_panel(beat_last_tick=time.time(), limit=3)
    assert len(panel["rows"]) == 3 and panel["more"] is True


# --- warnings -------------------------------------------------------------------------------------


def _panels() -> dict[str, Any]:
    redis_client.client().delete(gauges.CACHE_KEY, overview.CACHE_KEY)
    return panels.overview_panels(asdict(gauges.cached_reading()), overview.cached_overview(), [])


def test_a_queue_with_due_jobs_and_no_worker_is_named() -> None:
    make_job("queued", queue="attachments", type="demo.fail")
    make_job("queued", queue="attachments", type="demo.fail")
    make_job("queued", queue="dossiers", run_at=timezone.now() + timedelta(hours=1))  # delayed only
    liveness.record_worker(liveness.WorkerRecord(name="celery@a", hostname="a", pid=1, queues=("default",),
                                                 concurrency=2, busy=0, seen_at=time.time()))
    found = _panels()
    assert "Queue attachments has 2 due jobs and no worker consumes it." in found["warnings"]
    assert not [warning for warning in found["warnings"] if "dossiers" in warning or "Queue default" in warning]
    queue = {row["name"]: row for row in found["queues"]}
    assert queue["attachments"]["no_consumer"] and queue["default"]["consumers"] == ["celery@a"]

    liveness.record_worker(liveness.WorkerRecord(name="celery@b", hostname="b", pid=2, queues=("attachments",),
                                                 concurrency=1, busy=1, seen_at=time.time()))
    assert not [warning for warning in _panels()["warnings"] if warning.startswith("Queue attachments")]


def test_beat_not_ticking_is_a_warning() -> None:
    assert any("beat has never recorded a tick" in warning for warning in _panels()["warnings"])
    liveness.record_beat_tick(time.time() - 300)
    assert any("beat is not ticking (last tick 5m0" in warning for warning in _panels()["warnings"])
    liveness.record_beat_tick()
    assert not any(warning.startswith("beat") for warning in _panels()["warnings"])


# --- the shared reading ---------------------------------------------------------------------------


def test_viewers_at_once_wait_for_one_computation() -> None:
    computed = []

    def slow() -> dict[str, Any]:
        computed.append(1)
        time.sleep(0.3)
        return {"errors": [], "value": len(computed)}

    results: list[dict[str, Any]] = []
    viewers = [threading.Thread(target=lambda: results.append(shared.shared_reading("test:console", 5, slow)))
               for _ in range(8)]
    for viewer in viewers:
        viewer.start()
    for viewer in viewers:
        viewer.join()
    assert len(computed) == 1 and results == [{"errors": [], "value": 1}] * 8


def test_a_reading_is_computed_again_once_it_is_older_than_the_refresh_time(monkeypatch: pytest.MonkeyPatch) -> None:
    computed = []
    def counted() -> dict[str, Any]:
        computed.append(1)
        return {"errors": []}

    monkeypatch.setattr(overview, "compute_overview", counted)
    with override_settings(JOBS_CONSOLE_REFRESH_SECONDS=0.3):
        overview.cached_overview()
        overview.cached_overview()
        assert len(computed) == 1
        time.sleep(0.4)
        overview.cached_overview()
    assert len(computed) == 2


def test_a_reading_the_database_failed_is_not_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    computed = []
    def failing() -> dict[str, Any]:
        computed.append(1)
        return {"errors": ["database"]}

    monkeypatch.setattr(overview, "compute_overview", failing)
    overview.cached_overview()
    overview.cached_overview()
    assert len(computed) == 2

