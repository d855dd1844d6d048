"""Every metric the platform exports, by name: the one list /metrics, the shipped alert rules
and the dashboard are written against (docs/observability.md describes each).

Conventions of the Prometheus ecosystem: the prefix `conveyor_`, seconds, `_total` for
counters, and labels only from LABELS (queue, type, status, outcome, reason): never job ids,
users or host names, whose values have no bound.

Counters and histograms are recorded by whichever process sees the event
(`JOBS_CREATED.inc(queue=..., type=...)`) and summed across processes and hosts in Redis
(`telemetry.recorder`). Gauges are read at scrape time from the database, Redis and the
liveness records (`observability.collectors`); they are declared here so that the names stay
in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from telemetry import recorder

LABELS = frozenset({"queue", "type", "status", "outcome", "reason"})

# Seconds, from a no-op job's few milliseconds to a report's hour.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                    600.0, 1800.0, 3600.0)

Kind = Literal["counter", "histogram", "gauge"]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.labels) - LABELS
        if unknown:
            raise ValueError(f"{self.name}: labels {sorted(unknown)} are not among {sorted(LABELS)}")
        if not self.name.startswith("conveyor_"):
            raise ValueError(f"{self.name}: every metric is named conveyor_*")
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"{self.name}: a counter's name ends in _total")

    def _values(self, labels: dict[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes the labels {list(self.labels)}, got {sorted(labels)}")
        return tuple(str(labels[name]) for name in self.labels)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add to a counter (recorded in this process, summed in Redis within a second)."""
        assert self.kind == "counter", self.name
        recorder.add(self.name, self._values(labels), amount)

    def observe(self, value: float, **labels: str) -> None:
        """Count one observation of a histogram."""
        assert self.kind == "histogram", self.name
        recorder.observe(self.name, self._values(labels), value, self.buckets)


def _counter(name: str, help: str, *labels: str) -> Metric:
    return Metric(name, "counter", help, labels)


def _histogram(name: str, help: str, *labels: str) -> Metric:
    return Metric(name, "histogram", help, labels, DURATION_BUCKETS)


def _gauge(name: str, help: str, *labels: str) -> Metric:
    return Metric(name, "gauge", help, labels)


# --- counters and histograms: recorded where the event happens ---------------------------------
JOBS_CREATED = _counter("conveyor_jobs_created_total", "Jobs stored, by queue and type.", "queue", "type")
JOBS_DEDUPLICATED = _counter(
    "conveyor_jobs_deduplicated_total", "Creations answered with an existing job (dedup key or debounce).", "type")
JOBS_REJECTED = _counter(
    "conveyor_jobs_rejected_total",
    "Creations refused, one per job asked for: reason is invalid_input, unknown_type, payload_too_large or quota.",
    "type", "reason")
ATTEMPTS = _counter(
    "conveyor_job_attempts_total",
    "Executions ended, by outcome (completed, failed, failed_final, timeout, cancelled, interrupted, lost).",
    "queue", "type", "outcome")
JOBS_FINISHED = _counter(
    "conveyor_jobs_finished_total",
    "Jobs that reached a final status; reason says how (handler, timeout, expired, rescues, cancelled, result, "
    "unregistered, invalid_input).",
    "queue", "type", "status", "reason")
QUEUE_WAIT = _histogram(
    "conveyor_job_queue_wait_seconds", "From the moment a job was due to its claim by a worker.", "queue", "type")
RUN_TIME = _histogram("conveyor_job_run_seconds", "From claim to the end of the execution.", "queue", "type")
RESCUES = _counter(
    "conveyor_job_rescues_total", "Running jobs whose worker stopped heartbeating, taken back.", "queue", "type")
REPUBLISHES = _counter(
    "conveyor_job_republishes_total",
    "Queued jobs the sweeper published: reason held (kept in the database until due, or after a failed publish) "
    "or lost (their message was passed over).", "queue", "reason")
PUBLISH_ERRORS = _counter(
    "conveyor_publish_errors_total", "Messages the broker did not take (the sweeper sends them later).", "queue")
SCHEDULE_TICKS = _counter(
    "conveyor_schedule_ticks_total",
    "Schedule ticks, by outcome (created, sent, deduplicated, skipped_overlap, skipped_missed, failed).", "outcome")
NOTIFICATIONS = _counter(
    "conveyor_notification_deliveries_total", "Notification delivery attempts, by outcome (sent, failed, refused).",
    "outcome")

# --- gauges: read at scrape time ---------------------------------------------------------------
QUEUED_DUE = _gauge("conveyor_jobs_queued_due", "Queued jobs whose time has come.", "queue", "type")
QUEUED_DELAYED = _gauge("conveyor_jobs_queued_delayed", "Queued jobs due later (run_at or backoff).",
                        "queue", "type")
RUNNING = _gauge("conveyor_jobs_running", "Jobs running now.", "queue", "type")
OLDEST_DUE_AGE = _gauge("conveyor_queue_oldest_due_age_seconds",
                        "How long the oldest due job of the queue has waited since it was due.", "queue")
LONGEST_RUNNING_AGE = _gauge("conveyor_queue_longest_running_age_seconds",
                             "How long the longest running job of the queue has run.", "queue")
STALE_HEARTBEATS = _gauge("conveyor_jobs_stale_heartbeat",
                          "Running jobs whose heartbeat is older than JOBS_HEARTBEAT_TIMEOUT.", "queue")
BROKER_LENGTH = _gauge("conveyor_broker_queue_length", "Messages waiting in Redis, all priority lists summed.",
                       "queue")
CONSUMERS = _gauge("conveyor_queue_consumers", "Live workers consuming the queue.", "queue")
QUEUE_PAUSED = _gauge("conveyor_queue_paused", "1 while the queue is paused, else 0.", "queue")
TYPE_PAUSED = _gauge("conveyor_type_paused", "1 while the job type is paused, else 0.", "type")
WORKERS = _gauge("conveyor_workers", "Live workers (their liveness record is fresh).")
SLOTS_BUSY = _gauge("conveyor_worker_slots_busy", "Worker processes running a task now, all live workers.")
SLOTS_IDLE = _gauge("conveyor_worker_slots_idle", "Worker processes free for a task, all live workers.")
SCHEDULES_OVERDUE = _gauge("conveyor_schedules_overdue",
                           "Enabled schedules whose next tick is more than the misfire grace late.")
BEAT_LAST_TICK = _gauge("conveyor_beat_last_tick_timestamp_seconds", "When a beat process last ticked (Unix time).")
BUILD_INFO = _gauge("conveyor_build_info", "Always 1; the labels name the versions running.")
SCRAPE_ERRORS = _gauge("conveyor_metrics_collector_errors",
                       "1 when a part of the scrape could not be read (the database or Redis), else 0.", "reason")

RECORDED = (JOBS_CREATED, JOBS_DEDUPLICATED, JOBS_REJECTED, ATTEMPTS, JOBS_FINISHED, QUEUE_WAIT, RUN_TIME, RESCUES,
            REPUBLISHES, PUBLISH_ERRORS, SCHEDULE_TICKS, NOTIFICATIONS)
