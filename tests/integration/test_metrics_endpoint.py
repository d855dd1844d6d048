"""/metrics: who may read it, and that what the services do shows in it."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from jobs import services
from jobs.errors import JobValidationError
from observability import gauges
from telemetry import recorder, redis_client

TOKEN = "metrics-test-token-0123456789"

# the services report metrics when their transaction commits: these tests commit
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    """Each test reads sums it made itself: nothing pending, no sums, no cached gauges."""
    recorder.flush()
    client = redis_client.client()
    client.delete(recorder.HASH_KEY, gauges.CACHE_KEY, gauges.LOCK_KEY)
    with override_settings(METRICS_TOKEN=TOKEN, JOBS_METRICS_CACHE_SECONDS=0):
        yield


def scrape(client: Client | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    recorder.flush()
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_without_the_token_metrics_answers_401_and_shows_nothing() -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = Client().get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"conveyor_" not in response.content


def test_no_token_configured_means_nobody_gets_in() -> None:
    with override_settings(METRICS_TOKEN=""):
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_an_allowed_network_reads_without_a_token() -> None:
    with override_settings(METRICS_ALLOWED_NETWORKS=["127.0.0.0/8"]):
        assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
        assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 401
        # through a proxy on the same host, the address is the proxy's: the token is needed
        proxied = Client(REMOTE_ADDR="127.0.0.1").get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 401


def test_created_deduplicated_and_rejected_jobs_are_counted() -> None:
    for n in range(3):
        services.job_create(type="demo.sleep", input={"seconds": 0, "n": n})
    services.job_create(type="demo.sleep", input={}, dedup_key="same")
    services.job_create(type="demo.sleep", input={}, dedup_key="same")
    with pytest.raises(JobValidationError):
        services.job_create(type="no.such.type", input={})
    with pytest.raises(JobValidationError):
        services.job_create(type="demo.sleep", input=["not", "an", "object"])  # type: ignore[arg-type]
    samples = scrape()
    assert value(samples, "conveyor_jobs_created_total", queue="default", type="demo.sleep") == 4
    assert value(samples, "conveyor_jobs_deduplicated_total", type="demo.sleep") == 1
    # a type nobody registered is user input: it never becomes a label value
    assert value(samples, "conveyor_jobs_rejected_total", type="", reason="unknown_type") == 1
    assert value(samples, "conveyor_jobs_rejected_total", type="demo.sleep", reason="invalid_input") == 1
    assert not any("no.such.type" in str(labels) for _, labels in samples)


def test_a_refused_bulk_counts_every_job_it_asked_for_once() -> None:
    with pytest.raises(JobValidationError):
        services.jobs_create_bulk(type="demo.sleep", inputs=[{}, {}, "bad"])  # type: ignore[list-item]
    assert value(scrape(), "conveyor_jobs_rejected_total", type="demo.sleep", reason="invalid_input") == 3


def test_backlog_gauges_follow_the_table() -> None:
    now = timezone.now()
    for _ in range(2):
        services.job_create(type="demo.sleep", input={})
    services.job_create(type="demo.sleep", input={}, run_at=now + timedelta(hours=1))
    samples = scrape()
    assert value(samples, "conveyor_jobs_queued_due", queue="default", type="demo.sleep") == 2
    assert value(samples, "conveyor_jobs_queued_delayed", queue="default", type="demo.sleep") == 1
    assert value(samples, "conveyor_jobs_running", queue="default", type="demo.sleep") == 0
    # every known queue is listed, so that an alert on it always has a series
    for queue in gauges.known_queues():
        assert ("conveyor_queue_oldest_due_age_seconds", (("queue", queue),)) in samples
        assert ("conveyor_broker_queue_length", (("queue", queue),)) in samples
    assert value(samples, "conveyor_metrics_collector_errors", reason="database") == 0


def test_paused_queues_and_types_show_while_paused() -> None:
    samples = scrape()
    for queue in gauges.known_queues():  # every queue has a series, at 0 while it runs
        assert samples[("conveyor_queue_paused", (("queue", queue),))] == 0
    assert samples[("conveyor_type_paused", (("type", "demo.sleep"),))] == 0
    services.pause_set(kind="queue", name="attachments", by=None)
    services.pause_set(kind="type", name="demo.sleep", by=None)
    samples = scrape()
    assert value(samples, "conveyor_queue_paused", queue="attachments") == 1
    assert value(samples, "conveyor_queue_paused", queue="default") == 0
    assert value(samples, "conveyor_type_paused", type="demo.sleep") == 1
    services.pause_lift(kind="queue", name="attachments", by=None)
    assert value(scrape(), "conveyor_queue_paused", queue="attachments") == 0


def test_the_gauges_are_shared_for_the_cache_time() -> None:
    with override_settings(JOBS_METRICS_CACHE_SECONDS=60):
        services.job_create(type="demo.sleep", input={})
        first = value(scrape(), "conveyor_jobs_queued_due", queue="default", type="demo.sleep")
        services.job_create(type="demo.sleep", input={})
        # a second scrape within the cache time reads the first one's result, not the table
        assert value(scrape(), "conveyor_jobs_queued_due", queue="default", type="demo.sleep") == first == 1
        redis_client.client().delete(gauges.CACHE_KEY)
        assert value(scrape(), "conveyor_jobs_queued_due", queue="default", type="demo.sleep") == 2


def test_build_info_names_the_versions() -> None:
    samples = scrape()
    info = [labels for (name, labels) in samples if name == "conveyor_build_info"]
    assert len(info) == 1 and {"version", "python", "django", "celery"} <= {k for k, _ in info[0]}
