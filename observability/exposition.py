"""The /metrics page: the recorded counters and histograms, the gauges, and build info, in
Prometheus's text format (prometheus_client builds it)."""
from __future__ import annotations

import platform
from collections import defaultdict
from collections.abc import Iterator

import celery
import django
from django.conf import settings
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from handlers.registry import registered_types
from observability.gauges import GaugeReading, cached_reading, known_queues
from telemetry import metrics, recorder


class RecordedCollector(Collector):
    """The counters and histograms every process summed in Redis. Every label combination
    seen since Redis started is listed; a metric nothing recorded yet is listed empty."""

    def collect(self) -> Iterator[Metric]:
        sums = recorder.read()
        by_name: dict[str, dict[tuple[str, ...], dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
        for (name, values, part), value in sums.items():
            by_name[name][values][part] = value
        for metric in metrics.RECORDED:
            series = by_name.get(metric.name, {})
            if metric.kind == "counter":
                counter = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
                for values, parts in sorted(series.items()):
                    counter.add_metric(list(values), parts.get("", 0.0))
                yield counter
            else:
                yield _histogram(metric, series)


def _histogram(metric: metrics.Metric, series: dict[tuple[str, ...], dict[str, float]]) -> Metric:
    family = HistogramMetricFamily(metric.name, metric.help, labels=metric.labels)
    bounds = [*(format(bound, "g") for bound in metric.buckets), "+Inf"]
    for values, parts in sorted(series.items()):
        cumulative, buckets = 0.0, []
        for index, bound in enumerate(bounds):
            cumulative += parts.get(f"b{index}", 0.0)
            buckets.append((bound, cumulative))
        family.add_metric(list(values), buckets, parts.get("sum", 0.0))
    return family


class GaugeCollector(Collector):
    """The gauges, from one shared reading (`observability.gauges`)."""

    def collect(self) -> Iterator[Metric]:
        reading = cached_reading()
        yield from backlog_families(reading)
        yield from broker_and_worker_families(reading)
        yield from scheduler_families(reading)
        errors = _gauge(metrics.SCRAPE_ERRORS)
        for reason in ("database", "redis"):
            errors.add_metric([reason], 1.0 if reason in reading.errors else 0.0)
        yield errors


def _gauge(metric: metrics.Metric, labels: tuple[str, ...] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(metric.name, metric.help, labels=list(metric.labels if labels is None else labels))


def backlog_families(reading: GaugeReading) -> Iterator[Metric]:
    if "database" in reading.errors:
        return
    due, delayed, running = _gauge(metrics.QUEUED_DUE), _gauge(metrics.QUEUED_DELAYED), _gauge(metrics.RUNNING)
    per_queue: dict[str, dict[str, float]] = {queue: defaultdict(float) for queue in known_queues()}
    for row in reading.backlog:
        labels = [row["queue"], row["type"]]
        due.add_metric(labels, row["queued_due"])
        delayed.add_metric(labels, row["queued_delayed"])
        running.add_metric(labels, row["running"])
        totals = per_queue.setdefault(row["queue"], defaultdict(float))
        totals["oldest"] = max(totals["oldest"], row["oldest_due_age"])
        totals["longest"] = max(totals["longest"], row["longest_running_age"])
        totals["stale"] += row["stale"]
    oldest, longest, stale = (_gauge(metrics.OLDEST_DUE_AGE), _gauge(metrics.LONGEST_RUNNING_AGE),
                              _gauge(metrics.STALE_HEARTBEATS))
    # every known queue is listed, at 0 when idle, so that an alert on it has a series to read
    for queue, values in sorted(per_queue.items()):
        oldest.add_metric([queue], values["oldest"])
        longest.add_metric([queue], values["longest"])
        stale.add_metric([queue], values["stale"])
    yield from (due, delayed, running, oldest, longest, stale)
    paused = {(kind, name) for kind, name in reading.pauses}
    queues, types = _gauge(metrics.QUEUE_PAUSED), _gauge(metrics.TYPE_PAUSED)
    for queue in sorted(per_queue):
        queues.add_metric([queue], 1.0 if ("queue", queue) in paused else 0.0)
    # every type with a job record, at 0 while it runs: a panel or an alert has a series to read
    for job_type in sorted(set(registered_types(tracked=True)) | {name for kind, name in paused if kind == "type"}):
        types.add_metric([job_type], 1.0 if ("type", job_type) in paused else 0.0)
    yield from (queues, types)


def broker_and_worker_families(reading: GaugeReading) -> Iterator[Metric]:
    if "redis" in reading.errors:
        return
    lengths = _gauge(metrics.BROKER_LENGTH)
    for queue, length in sorted(reading.broker_lengths.items()):
        lengths.add_metric([queue], float(length))
    consumers = _gauge(metrics.CONSUMERS)
    counts: dict[str, int] = dict.fromkeys(reading.broker_lengths, 0)
    busy = idle = 0.0
    for worker in reading.workers:
        for queue in worker.get("queues", []):
            counts[queue] = counts.get(queue, 0) + 1
        busy += worker.get("busy", 0)
        idle += max(0, worker.get("concurrency", 0) - worker.get("busy", 0))
    for queue, count in sorted(counts.items()):
        consumers.add_metric([queue], float(count))
    workers = _gauge(metrics.WORKERS)
    workers.add_metric([], float(len(reading.workers)))
    slots_busy, slots_idle = _gauge(metrics.SLOTS_BUSY), _gauge(metrics.SLOTS_IDLE)
    slots_busy.add_metric([], busy)
    slots_idle.add_metric([], idle)
    yield from (lengths, consumers, workers, slots_busy, slots_idle)


def scheduler_families(reading: GaugeReading) -> Iterator[Metric]:
    if reading.schedules_overdue is not None:
        overdue = _gauge(metrics.SCHEDULES_OVERDUE)
        overdue.add_metric([], float(reading.schedules_overdue))
        yield overdue
    if reading.beat_last_tick is not None:  # absent until a beat ticked: `absent()` alerts on it
        tick = _gauge(metrics.BEAT_LAST_TICK)
        tick.add_metric([], reading.beat_last_tick)
        yield tick


class BuildInfoCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        info = _gauge(metrics.BUILD_INFO, ("version", "python", "django", "celery"))
        versions = [settings.CONVEYOR_VERSION, platform.python_version(), django.get_version(), celery.__version__]
        info.add_metric(versions, 1.0)
        yield info


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    for collector in (RecordedCollector(), GaugeCollector(), BuildInfoCollector()):
        registry.register(collector)
    return generate_latest(registry)

