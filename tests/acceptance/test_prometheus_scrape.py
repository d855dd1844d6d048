"""A real Prometheus, with the project's scrape config, scrapes /metrics while a prefork worker
runs a known set of jobs: the counters it stores are exactly those jobs."""
from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from jobs import services
from jobs.models import Job
from jobs.states import FINAL_STATUSES
from observability import gauges
from telemetry import recorder, redis_client
from tests.processes import wait_for
from tests.prometheus_files import prometheus_binary, prometheus_query, running_prometheus, scrape_config_for

TOKEN = "scrape-test-token-abcdefghijklmnop"

pytestmark = [pytest.mark.workers, pytest.mark.slow]


@pytest.fixture
def prometheus(live_server: Any, tmp_path: Path) -> Iterator[str]:
    """Prometheus scraping the live server every second with the project's scrape config."""
    prometheus_binary()  # skips, naming the package, when it is not installed
    token_file = tmp_path / "metrics-token"
    token_file.write_text(TOKEN)
    with running_prometheus(scrape_config_for(live_server.url.removeprefix("http://"), token_file), tmp_path) as at:
        yield at


def query(address: str, expression: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(item["metric"].items())): float(item["value"][1])
            for item in prometheus_query(address, expression)}


def test_prometheus_sees_exactly_the_jobs_that_ran(processes: Any, prometheus: str, live_server: Any) -> None:
    recorder.flush()
    redis_client.client().delete(recorder.HASH_KEY, gauges.CACHE_KEY)
    with override_settings(METRICS_TOKEN=TOKEN):
        # without the token, the same endpoint Prometheus reads tells nothing
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{live_server.url}/metrics", timeout=5)
        assert refused.value.code == 401

        processes.worker(concurrency=2, pool="prefork")
        jobs = [services.job_create(type="test.noop", input={"n": n}).job for n in range(10)]
        jobs += [services.job_create(type="demo.flaky", input={"permanent": True, "n": n}).job for n in range(3)]
        jobs += [services.job_create(type="test.flaky_fast", input={"failures": 1, "n": n}).job for n in range(2)]
        wait_for(lambda: Job.objects.filter(pk__in=[j.pk for j in jobs], status__in=FINAL_STATUSES).count() == 15,
                 timeout=90, message="the 15 jobs to finish")

        def sums(expression: str) -> dict[str, float]:
            return {dict(labels).get("key", ""): v for labels, v in query(prometheus, expression).items()}

        ours = 'type=~"test.noop|demo.flaky|test.flaky_fast"'
        expected_attempts = {"test.noop/completed": 10, "demo.flaky/failed_final": 3,
                             "test.flaky_fast/failed": 2, "test.flaky_fast/completed": 2}
        attempts_query = (f'label_join(sum by (type, outcome) (conveyor_job_attempts_total{{{ours}}}), '
                          '"key", "/", "type", "outcome")')
        # the worker's pool processes flush every second and Prometheus scrapes every second
        wait_for(lambda: sums(attempts_query) == expected_attempts, timeout=60,
                 message=f"Prometheus to store the attempts {expected_attempts}")

        created = sums(f'label_join(sum by (type) (conveyor_jobs_created_total{{{ours}}}), "key", "", "type")')
        assert created == {"test.noop": 10, "demo.flaky": 3, "test.flaky_fast": 2}
        finished = sums(f'label_join(sum by (type, status) (conveyor_jobs_finished_total{{{ours}}}), '
                        '"key", "/", "type", "status")')
        assert finished == {"test.noop/completed": 10, "demo.flaky/failed": 3, "test.flaky_fast/completed": 2}
        # one queue-wait observation per claim: 10 + 3 + 2 x 2 attempts
        waits = sums(f'sum(conveyor_job_queue_wait_seconds_count{{{ours}}})')
        assert waits == {"": 17}
        assert sums(f'sum(conveyor_job_run_seconds_count{{{ours}}})') == {"": 17}
        # the +Inf bucket of a histogram is its count
        assert sums(f'sum(conveyor_job_queue_wait_seconds_bucket{{{ours}, le="+Inf"}})') == {"": 17}
        up = query(prometheus, 'up{job="conveyor"}')
        assert list(up.values()) == [1.0]
