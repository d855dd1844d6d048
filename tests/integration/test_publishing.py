"""What job creation puts in Redis, one by one and in bulk, and what it does when Redis fails.

These tests publish to the suite's real Redis (run_job messages that no worker takes: the
queues are emptied around each test) and read the raw messages back.
"""
from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import redis
from django.db import connection, transaction
from django.db.models.signals import pre_save
from django.test.utils import CaptureQueriesContext

from config.celery import app
from config.embedded_redis import free_port
from jobs import publishing, services
from jobs.models import Job
from jobs.publishing import broker, producers
from jobs.tasks import run_job
from telemetry import recorder
from telemetry.redis_client import redis_client_url
from tests.factories import make_org, make_project, make_user

pytestmark = pytest.mark.django_db

QUEUE = "default"


def _client() -> redis.Redis:
    return redis.Redis.from_url(redis_client_url(app.conf.broker_url))


def _keys(queue: str = QUEUE) -> list[str]:
    return [queue] + [f"{queue}:{priority}" for priority in range(1, 10)]


def messages(queue: str = QUEUE) -> list[dict[str, Any]]:
    """The run_job messages waiting in `queue`, oldest first, decoded: the Redis key they
    wait under (one per broker priority), the headers, the properties, args and kwargs."""
    found = []
    client = _client()
    for key in _keys(queue):
        for raw in reversed(client.lrange(key, 0, -1)):
            message = json.loads(raw)
            args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            found.append({"key": key, "headers": message["headers"], "properties": message["properties"],
                          "args": args, "kwargs": kwargs})
    return found


@pytest.fixture(autouse=True)
def empty_queue() -> Iterator[None]:
    _client().delete(*_keys())
    yield
    _client().delete(*_keys())


def _publish_errors() -> float:
    """conveyor_publish_errors_total{queue="default"} as summed in Redis (the metrics' Redis is
    the settings' broker, which the tests below do not switch)."""
    recorder.flush()
    return recorder.read().get(("conveyor_publish_errors_total", ("default",), ""), 0.0)


def _switch_broker(url: str) -> None:
    # as tests/conftest.py's own_redis does: Celery rebuilds its pools from broker_url
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.broker_url = url


# --- one by one ----------------------------------------------------------------------------------


def test_a_job_message_is_the_one_apply_async_would_send(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(type="test.soft_timeout", priority=2, delay=30).job
    # the same message through Celery's own apply_async, as jobs were published before
    run_job.apply_async(args=[str(job.pk), str(job.token)], kwargs={"job_type": "test.soft_timeout"}, queue=QUEUE,
                        priority=publishing.broker_priority(2), countdown=30, soft_time_limit=0.5, time_limit=10)
    ours, celerys = messages()
    assert ours["key"] == celerys["key"] == f"{QUEUE}:1"  # job priority 2 -> broker priority 1
    assert ours["args"] == celerys["args"] == [str(job.pk), str(job.token)]
    assert ours["kwargs"] == celerys["kwargs"] == {"job_type": "test.soft_timeout"}
    assert ours["headers"]["timelimit"] == [10, 0.5]  # hard, soft: the handler's timeout
    eta = datetime.fromisoformat(ours["headers"]["eta"])
    assert abs((eta - job.created_at).total_seconds() - 30) < 5
    different = {"id", "root_id", "eta", "correlation_id", "delivery_tag"}
    for part in ("headers", "properties"):
        assert set(ours[part]) == set(celerys[part])
        assert {k: v for k, v in ours[part].items() if k not in different} == \
               {k: v for k, v in celerys[part].items() if k not in different}


def test_a_limited_job_is_published_by_its_gate_with_the_token_it_was_admitted_with(
        django_capture_on_commit_callbacks):
    org = make_org()
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(type="test.per_org", organization=org).job
    admitted = Job.objects.get(pk=job.pk)
    assert admitted.gate == f"test.per_org|org:{org.pk}" and admitted.dispatched_at is not None
    assert admitted.token != job.token  # the admission gave it its message's token
    [message] = messages()
    assert message["key"] == f"{QUEUE}:4"  # the default priority 5
    assert message["kwargs"] == {"job_type": "test.per_org"}
    assert message["headers"]["timelimit"] == [None, None] and message["headers"]["eta"] is None
    assert message["headers"]["task"] == "jobs.run_job" and message["args"] == [str(job.pk), str(admitted.token)]


def test_publishing_one_by_one_reuses_one_connection_and_one_client(monkeypatch, django_capture_on_commit_callbacks):
    publishing.reset_publishers()
    with django_capture_on_commit_callbacks(execute=True):
        services.job_create(type="demo.sleep")
    clients = []
    original = redis.Redis.__init__

    def counting_init(self: redis.Redis, *args: Any, **kwargs: Any) -> None:
        clients.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting_init)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(20):
            services.job_create(type="demo.sleep")
    assert clients == []  # kombu alone builds a redis.Redis per message
    assert len(producers._idle) == 1
    assert len(messages()) == 21


def test_publishers_follow_the_app_to_another_broker_and_a_dead_one_holds_the_job(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.job_create(type="demo.sleep")  # a publisher for the suite's Redis is idle now
    with app.producer_or_acquire() as producer:  # and Celery's own pool holds a connection
        producer.channel  # noqa: B018
    previous = app.conf.broker_url
    errors_before = _publish_errors()
    _switch_broker(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            job = services.job_create(type="demo.sleep").job
        assert time.monotonic() - started < 5
    finally:
        _switch_broker(previous)
    held = Job.objects.get(pk=job.pk)
    assert held.status == "queued" and held.dispatched_at is None  # left to the sweeper
    assert _publish_errors() == errors_before + 1
    assert len(messages()) == 1  # not published to the suite's Redis either
    with django_capture_on_commit_callbacks(execute=True):
        assert services.jobs_sweep() == 1
    [_, republished] = messages()
    assert republished["args"] == [str(job.pk), str(Job.objects.get(pk=job.pk).token)]
    with app.producer_or_acquire() as producer:  # Celery's pool for the suite's Redis works again
        producer.channel  # noqa: B018


# --- the INSERT ------------------------------------------------------------------------------------


def test_create_is_one_insert_and_needs_a_savepoint_only_for_a_dedup_key():
    # (a prepared statement's text may not be logged: Django logs what it can rebuild)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        services.job_create(type="demo.sleep")
    assert len(queries) == 1 and "SAVEPOINT" not in (queries[0]["sql"] or "")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        services.job_create(type="demo.sleep", dedup_key="savepoint-1")
    statements = [(q["sql"] or "INSERT").split(" ")[0] for q in queries.captured_queries]
    assert statements == ["SELECT", "SAVEPOINT", "INSERT", "RELEASE"]  # the dedup lookup, then the INSERT


def test_a_dedup_race_inside_a_transaction_returns_the_other_job_and_leaves_the_transaction_usable(monkeypatch):
    first = services.job_create(type="demo.sleep", dedup_key="race-1").job
    from jobs.services import create

    real = create._queued_with_key
    calls = []

    def blind_first_time(key: str) -> Job | None:
        calls.append(key)
        return None if len(calls) == 1 else real(key)  # as if the other INSERT came just after our read

    monkeypatch.setattr(create, "_queued_with_key", blind_first_time)
    with transaction.atomic():
        again = services.job_create(type="demo.sleep", dedup_key="race-1")
        assert again.job.pk == first.pk and again.deduplicated
        assert Job.objects.count() == 1  # the transaction still works
    assert len(calls) == 2


def test_create_stores_every_field_as_save_would():
    user, org = make_user(), make_org()
    project = make_project(org)
    job = services.job_create(type="test.per_org", input={"a": [1, "é"]}, created_by=user, project=project,
                              priority=3, delay=600, estimated_duration=2.5).job
    assert job._state.adding is False and job._state.db == "default"
    stored = Job.objects.get(pk=job.pk)
    for field in Job._meta.concrete_fields:
        assert getattr(stored, field.attname) == getattr(job, field.attname), field.name
    assert (stored.input, stored.organization_id, stored.dispatched_at) == ({"a": [1, "é"]}, org.pk, None)


def test_create_goes_through_save_when_something_listens_to_it():
    seen = []

    def receiver(sender: Any, instance: Job, **kwargs: Any) -> None:
        seen.append(instance.pk)

    pre_save.connect(receiver, sender=Job)
    try:
        job = services.job_create(type="demo.sleep").job
    finally:
        pre_save.disconnect(receiver, sender=Job)
    assert seen == [job.pk] and Job.objects.filter(pk=job.pk).exists()


def test_create_refuses_an_unsaved_related_object():
    from django.contrib.auth import get_user_model

    with pytest.raises(ValueError, match="unsaved related object"):
        services.job_create(type="demo.sleep", created_by=get_user_model()(username="ghost"))
    assert Job.objects.count() == 0


# --- in bulk ---------------------------------------------------------------------------------------


def test_bulk_rows_are_the_rows_of_single_creates():
    user, org = make_user(), make_org()
    project = make_project(org)
    shared = {"same": "object"}
    kwargs = {"type": "test.per_org", "created_by": user, "project": project, "priority": 7}
    single = services.job_create(input={"n": 0}, **kwargs).job
    jobs = services.jobs_create_bulk(inputs=[{"n": 0}, shared, shared, {"n": 3, "s": "x\ty\n\\z"}], **kwargs)
    assert all(job._state.adding is False for job in jobs)
    different = {"id", "token", "input", "created_at", "updated_at", "queued_at", "dispatched_at"}
    expected = {k: v for k, v in Job.objects.filter(pk=single.pk).values().get().items() if k not in different}
    rows = {row["id"]: row for row in Job.objects.filter(pk__in=[job.pk for job in jobs]).values()}
    assert len(rows) == 4
    for job in jobs:
        row = rows[job.pk]
        assert {k: v for k, v in row.items() if k not in different} == expected
        assert (row["token"], row["input"], row["created_at"]) == (job.token, job.input, job.created_at)
    assert [rows[job.pk]["input"] for job in jobs] == [{"n": 0}, shared, shared, {"n": 3, "s": "x\ty\n\\z"}]
    assert len({row["token"] for row in rows.values()}) == 4


def test_bulk_publishes_a_pipeline_per_batch(monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(broker, "BATCH_SIZE", 10)
    executed = []
    original = redis.client.Pipeline.execute

    def counting_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        executed.append(len(self.command_stack))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counting_execute)
    with django_capture_on_commit_callbacks(execute=True):
        jobs = services.jobs_create_bulk(type="test.soft_timeout", inputs=[{"n": n} for n in range(25)], priority=10)
    assert executed == [10, 10, 5]
    found = messages()
    assert [m["args"] for m in found] == [[str(job.pk), str(job.token)] for job in jobs]
    assert {m["key"] for m in found} == {f"{QUEUE}:9"}
    assert all(m["headers"]["timelimit"] == [10, 0.5] for m in found)
    assert Job.objects.filter(dispatched_at__isnull=True).count() == 0


def test_a_bulk_publish_that_fails_part_way_holds_the_rest_for_the_sweeper(monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    monkeypatch.setattr(broker, "BATCH_SIZE", 10)
    original = redis.client.Pipeline.execute
    calls = []

    def failing_second_time(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not any(str(command[0][0]).upper() == "LPUSH" for command in self.command_stack):
            return original(self, *args, **kwargs)  # not a publish: the metrics' flush, say
        calls.append(1)
        if len(calls) == 2:
            self.reset()
            raise redis.ConnectionError("Redis went away")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", failing_second_time)
    with django_capture_on_commit_callbacks(execute=True):
        jobs = services.jobs_create_bulk(type="demo.sleep", inputs=[{"n": n} for n in range(25)])
    assert len(calls) == 2  # the third batch was not even tried
    dispatched = set(Job.objects.filter(dispatched_at__isnull=False).values_list("pk", flat=True))
    assert dispatched == {job.pk for job in jobs[:10]}
    assert [m["args"][0] for m in messages()] == [str(job.pk) for job in jobs[:10]]
    monkeypatch.setattr(redis.client.Pipeline, "execute", original)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.jobs_sweep() == 15
    assert Job.objects.filter(dispatched_at__isnull=True).count() == 0
    assert len(messages()) == 25


def test_bulk_with_redis_down_holds_every_job(django_capture_on_commit_callbacks):
    previous = app.conf.broker_url
    _switch_broker(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            jobs = services.jobs_create_bulk(type="demo.sleep", inputs=[{}] * 3)
    finally:
        _switch_broker(previous)
    assert Job.objects.filter(pk__in=[job.pk for job in jobs], status="queued", dispatched_at__isnull=True).count() == 3


def test_bulk_in_record_mode_records_each_job(django_capture_on_commit_callbacks):
    from jobs.testing import jobs_recorded

    with jobs_recorded() as sent, django_capture_on_commit_callbacks(execute=True):
        jobs = services.jobs_create_bulk(type="demo.sleep", inputs=[{}] * 3, priority=1)
    assert [(r.job_id, r.token, r.priority) for r in sent] == [(str(j.pk), str(j.token), 1) for j in jobs]
    assert messages() == []


@app.task(name="tests.publish_from_a_task", bind=True)
def publish_from_a_task(self: Any, job_id: str, token: str) -> list[str]:
    publishing.send_run_job(job_id=job_id, token=uuid.UUID(token), job_type="demo.sleep", queue=QUEUE, priority=5,
                            countdown=None)
    return [child.id for child in self.request.children]


def test_a_message_published_by_a_running_task_is_linked_to_it_as_apply_async_links_it():
    job_id, token = str(uuid.uuid4()), str(uuid.uuid4())
    result = publish_from_a_task.apply(args=[job_id, token], task_id="the-sweeper-run")
    [message] = messages()
    assert (message["headers"]["parent_id"], message["headers"]["root_id"]) == ("the-sweeper-run", "the-sweeper-run")
    assert result.get() == [message["headers"]["id"]]  # in the task's children, as apply_async adds it
    assert message["args"] == [job_id, token]


# --- the other tasks, sent by name; the worker left out -------------------------------------------


def _same_message(ours: dict[str, Any], celerys: dict[str, Any]) -> None:
    assert (ours["key"], ours["args"], ours["kwargs"]) == (celerys["key"], celerys["args"], celerys["kwargs"])
    different = {"id", "root_id", "eta", "correlation_id", "delivery_tag"}
    for part in ("headers", "properties"):
        assert set(ours[part]) == set(celerys[part])
        assert {k: v for k, v in ours[part].items() if k not in different} == \
               {k: v for k, v in celerys[part].items() if k not in different}


def test_tasks_sent_by_name_are_the_messages_their_apply_async_would_send(settings):
    from jobs import tasks

    publishing.send_untracked_job(job_type="test.system", payload={"path": "x"}, queue=QUEUE)
    tasks.run_untracked_job.apply_async(args=["test.system", {"path": "x"}], queue=QUEUE)
    ours, celerys = messages()
    assert ours["headers"]["task"] == "jobs.run_system_job"
    _same_message(ours, celerys)
    _client().delete(*_keys())

    sent_at = "2030-01-02T03:04:05+00:00"
    publishing.send_probe(queue=QUEUE, priority=3, sent_at=sent_at)
    tasks.note_delivery.apply_async(args=[QUEUE, 3, sent_at], queue=QUEUE, priority=publishing.broker_priority(3))
    ours, celerys = messages()
    assert ours["headers"]["task"] == "jobs.note_delivery" and ours["key"] == f"{QUEUE}:2"
    _same_message(ours, celerys)

    system = settings.JOBS_SYSTEM_QUEUE
    _client().delete(*_keys(system))
    try:
        publishing.send_admission(gate="test.per_org|org:1", countdown=5)
        tasks.admit_waiting.apply_async(args=["test.per_org|org:1"], countdown=5, queue=system)
        ours, celerys = messages(system)
        assert ours["headers"]["task"] == "jobs.admit_waiting" and ours["headers"]["eta"] is not None
        _same_message(ours, celerys)
    finally:
        _client().delete(*_keys(system))


def test_the_inline_mode_runs_jobs_through_the_runner_registered_into_publishing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jobs.publishing import modes
    from jobs.testing import jobs_run_inline
    from jobs.worker.inline import InlineRunner

    assert isinstance(modes._inline_runner, InlineRunner)  # registered when the jobs app started
    ran: list[tuple[str, ...]] = []
    token = uuid.uuid4()

    class Runner:
        def run_job(self, job_id: str, token: str) -> None:
            ran.append((job_id, token))

        def run_untracked(self, job_type: str, payload: dict[str, Any]) -> str:
            ran.append((job_type,))
            return "task-1"

    monkeypatch.setattr(modes, "_inline_runner", Runner())
    with jobs_run_inline():
        publishing.send_run_job(job_id="j1", token=token, job_type="demo.sleep", queue=QUEUE, priority=5,
                                countdown=None)
        assert publishing.send_untracked_job(job_type="test.system", payload={}, queue=QUEUE) == "task-1"
    assert ran == [("j1", str(token)), ("test.system",)] and messages() == []
    monkeypatch.setattr(modes, "_inline_runner", None)
    with jobs_run_inline(), pytest.raises(RuntimeError, match="inline runner"):
        publishing.send_run_job(job_id="j1", token=token, job_type="demo.sleep", queue=QUEUE, priority=5,
                                countdown=None)


def test_an_untracked_job_runs_inline_and_its_failure_is_not_raised_into_the_sender(tmp_path):
    """As Celery's eager apply() ran it before: the handler's exception goes to the log."""
    from jobs.testing import jobs_run_inline

    marks = tmp_path / "marks"
    with jobs_run_inline():
        task_id = publishing.send_untracked_job(job_type="test.system", payload={"path": str(marks)}, queue=QUEUE)
        failed = publishing.send_untracked_job(job_type="demo.sleep", payload={}, queue=QUEUE)  # a tracked type
    assert marks.read_text() == f"system_{task_id}\n"
    assert uuid.UUID(failed) and messages() == []
