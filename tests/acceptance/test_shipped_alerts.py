"""A real Prometheus, with the shipped scrape config and alert rules, reads the real /metrics:
every rule evaluates without error, none is even pending while all is well, and the ones
whose fault is set up (due jobs that no worker consumes, a beat that stopped ticking) become
pending, the others staying quiet. Every dashboard query is valid PromQL to it, and those on
gauges find data.

No worker runs: the queue `default` has no consumer, which is the fault. The alerts' `for:`
is minutes, so they are seen pending (their expression true), not firing; promtool's rule
tests (tests/unit/test_alert_rules.py) cover the durations.
"""
from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from jobs import services
from jobs.conf import conf
from observability import gauges
from telemetry import liveness, recorder, redis_client
from tests.processes import wait_for
from tests.prometheus_files import (
    as_grafana_sends,
    dashboard_queries,
    definitions,
    named_series,
    prometheus_query,
    running_prometheus,
    scrape_config_for,
)

TOKEN = "shipped-alerts-test-token-0123456789"

pytestmark = pytest.mark.slow


@pytest.fixture
def prometheus(live_server: Any, tmp_path: Path) -> Iterator[str]:
    """Prometheus scraping the live server's /metrics every second, with fresh sums, gauges
    read at every scrape, no worker or beat on record; the test's beat record, sums and
    unconsumed messages are gone afterwards."""
    recorder.flush()
    client = redis_client.client()
    ours = [recorder.HASH_KEY, gauges.CACHE_KEY, gauges.LOCK_KEY, liveness.BEAT_KEY, liveness.WORKERS_KEY]
    client.delete(*ours)
    token_file = tmp_path / "metrics-token"
    token_file.write_text(TOKEN)
    config = scrape_config_for(live_server.url.removeprefix("http://"), token_file)
    try:
        with override_settings(METRICS_TOKEN=TOKEN, JOBS_METRICS_CACHE_SECONDS=0), \
                running_prometheus(config, tmp_path) as address:
            yield address
    finally:
        recorder.flush()
        client.delete(*ours, *gauges.broker_list_names(conf.default_queue))


def rules(address: str) -> list[dict[str, Any]]:
    """Prometheus's alert rules as it loaded them, with their health and last evaluation."""
    with urllib.request.urlopen(f"{address}/api/v1/rules?type=alert", timeout=10) as response:
        body = json.load(response)
    return [rule for group in body["data"]["groups"] for rule in group["rules"]]


def alerts(address: str) -> set[tuple[str, str]]:
    """(alert name, queue or "") of every alert pending or firing now."""
    return {(item["metric"]["alertname"], item["metric"].get("queue", ""))
            for item in prometheus_query(address, "ALERTS")}


def evaluated_since(address: str, moment: float) -> bool:
    """Every rule has been evaluated after `moment` (Unix time)."""
    found = rules(address)
    return bool(found) and all(
        datetime.fromisoformat(rule["lastEvaluation"].replace("Z", "+00:00")).timestamp() > moment for rule in found)


def test_the_shipped_rules_and_dashboard_read_the_real_metrics(prometheus: str) -> None:
    # all is well: beat ticks, nothing is due
    liveness.record_beat_tick()
    wait_for(lambda: prometheus_query(prometheus, 'conveyor_build_info and on () up{job="conveyor"} == 1'),
             timeout=60, message="Prometheus to scrape /metrics")
    scraped = time.time()
    wait_for(lambda: evaluated_since(prometheus, scraped + 1), timeout=60, message="a rule evaluation after a scrape")
    unhealthy = [(rule["name"], rule.get("lastError")) for rule in rules(prometheus) if rule["health"] != "ok"]
    assert unhealthy == []
    assert alerts(prometheus) == set()

    # the faults: jobs due in a queue nobody consumes, and beat's last tick 10 minutes ago
    for n in range(3):
        services.job_create(type="test.noop", input={"n": n})
    liveness.record_beat_tick(now=time.time() - 600)
    expected = {("ConveyorDueJobsWithoutConsumer", "default"), ("ConveyorSchedulerDown", "")}
    wait_for(lambda: expected <= alerts(prometheus), timeout=60, message=f"the alerts {expected} to be pending")
    faulty = time.time()
    wait_for(lambda: evaluated_since(prometheus, faulty + 1), timeout=60, message="another rule evaluation")
    assert alerts(prometheus) == expected
    due = prometheus_query(prometheus, 'sum by (queue) (conveyor_jobs_queued_due{queue="default"})')
    assert [float(item["value"][1]) for item in due] == [3.0]

    # every dashboard query is valid PromQL to Prometheus; those on gauges alone (read at every
    # scrape, and there are jobs now) find data in the real /metrics
    gauges_served = {metric.name for metric in definitions() if metric.kind == "gauge"}
    for where, query in dashboard_queries():
        expression = as_grafana_sends(query)
        result = prometheus_query(prometheus, expression)
        if named_series(expression) <= gauges_served:
            assert result, f"{where} finds no data in the real /metrics: {expression}"
