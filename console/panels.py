"""The overview page's panels, assembled from two shared readings and the pauses in force:

    gauges    what is queued and running now, per queue and type, the workers and their queues,
              the broker's lengths (`observability.gauges.cached_reading`, shared with /metrics)
    overview  the time buckets, the at-risk jobs, the schedules (`console.overview.cached_overview`)
    pauses    the queues and types paused now (`jobs.selectors.pauses`: a few rows, read per page)

Nothing here queries the jobs table: a page view costs two Redis reads and the pauses' query.
"""
from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from console import presenters as show
from handlers.registry import all_queues
from jobs.models import Pause, PauseKind
from telemetry import liveness

_LIVE = ("queued_due", "queued_delayed", "running", "stale")
_SPANS = tuple(f"{name}_{span}" for name in ("created", "completed", "failed", "cancelled") for span in ("1h", "24h"))


def _pause_info(pause: Pause | None) -> dict[str, Any] | None:
    if pause is None:
        return None
    until = pause.until.timestamp() if pause.until else None
    return {"by": pause.paused_by_name or "system", "reason": pause.reason, "since": show.moment_text(
        pause.paused_at.timestamp()), "until": show.moment_text(until) if until else "resumed by hand"}


def _live_sums(backlog: list[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    sums: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys((*_LIVE, "oldest_due_age"), 0))
    for row in backlog:
        entry = sums[row[key]]
        for name in _LIVE:
            entry[name] += row[name]
        entry["oldest_due_age"] = max(entry["oldest_due_age"], row["oldest_due_age"])
    return sums


def queue_rows(gauges: dict[str, Any], buckets: dict[str, Any],
               pauses: dict[tuple[str, str], Pause]) -> list[dict[str, Any]]:
    live = _live_sums(gauges["backlog"], "queue")
    consumers: dict[str, list[str]] = defaultdict(list)
    for worker in gauges["workers"]:
        for queue in sorted(set(worker["queues"])):
            consumers[queue].append(worker["name"])
    workers_known = "redis" not in gauges["errors"]
    names = sorted(set(all_queues()) | set(live) | set(buckets["queues"]) | set(consumers)
                   | {name for kind, name in pauses if kind == PauseKind.QUEUE})
    rows = []
    for queue in names:
        row: dict[str, Any] = {"name": queue, **live.get(queue, dict.fromkeys((*_LIVE, "oldest_due_age"), 0)),
                               **buckets["queues"].get(queue, dict.fromkeys(_SPANS, 0))}
        row["oldest_due_text"] = show.seconds_text(row["oldest_due_age"]) if row["queued_due"] else "-"
        row["consumers"] = consumers.get(queue, [])
        row["broker_length"] = gauges["broker_lengths"].get(queue) if workers_known else None
        row["no_consumer"] = workers_known and row["queued_due"] > 0 and not row["consumers"]
        row["paused"] = _pause_info(pauses.get((PauseKind.QUEUE, queue)))
        row["jobs_url"] = show.job_list_url(queue=queue)
        row["failed_url"] = show.job_list_url(queue=queue, status="failed")
        rows.append(row)
    return rows


def type_rows(gauges: dict[str, Any], buckets: dict[str, Any],
              pauses: dict[tuple[str, str], Pause]) -> list[dict[str, Any]]:
    live = _live_sums(gauges["backlog"], "type")
    queues_of: dict[str, set[str]] = defaultdict(set)
    for entry in gauges["backlog"]:
        queues_of[entry["type"]].add(entry["queue"])
    names = sorted(set(live) | set(buckets["types"]) | {name for kind, name in pauses if kind == PauseKind.TYPE})
    rows = []
    for job_type in names:
        summary = buckets["types"].get(job_type, {})
        row: dict[str, Any] = {"name": job_type, **live.get(job_type, dict.fromkeys(_LIVE, 0)),
                               **{span: summary.get(span, 0) for span in _SPANS}}
        row["queues"] = ", ".join(sorted(queues_of[job_type] | set(summary.get("queues", []))))
        for name in ("wait", "run"):
            row[name] = [show.quantile_text(summary.get(f"{name}_{p}")) for p in ("p50", "p95", "p99")]
        row["paused"] = _pause_info(pauses.get((PauseKind.TYPE, job_type)))
        row["jobs_url"] = show.job_list_url(type=job_type)
        row["failed_url"] = show.job_list_url(type=job_type, status="failed")
        rows.append(row)
    return rows


def worker_rows(gauges: dict[str, Any], now: float) -> list[dict[str, Any]]:
    return [{"name": w["name"], "host": w["hostname"], "queues": ", ".join(w["queues"]), "busy": w["busy"],
             "concurrency": w["concurrency"], "seen": show.age_text(w["seen_at"], now)} for w in gauges["workers"]]


def at_risk_panels(reading: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """The four lists, titled, each job with its link and what makes it at risk."""
    found = reading.get("at_risk") or {}
    titles = (
        ("stale", "Stale heartbeats", "last heartbeat"),
        ("overrunning", "Running past their type's p99", "started"),
        ("rescued", "Rescued more than once, not finished", "created"),
        ("expired", "Queued past their queue-wait timeout", "expired"),
    )
    panels = []
    for key, title, since in titles:
        part = found.get(key) or {"jobs": [], "more": False}
        jobs = [{**job, "url": show.job_url(job["id"]), "short_id": job["id"][:8],
                 "since_text": show.age_text(job["since"], now),
                 "p99_text": show.seconds_text(job.get("p99")) if job.get("p99") is not None else ""}
                for job in part["jobs"]]
        panels.append({"key": key, "title": title, "since": since, "jobs": jobs, "more": part["more"]})
    return panels


def schedule_rows(reading: dict[str, Any], now: float) -> dict[str, Any]:
    panel = reading.get("schedules") or {"rows": [], "more": False, "overdue": 0}
    rows = []
    for row in panel["rows"]:
        rows.append({**row, "url": show.schedule_url(row["kind"], row["id"]),
                     "last_tick_text": show.age_text(row["last_tick"], now),
                     "next_tick_text": show.age_text(row["next_tick"], now),
                     "late_text": show.seconds_text(row["late"]) if row["late"] else "",
                     "last_late_text": show.seconds_text(row["last_late"]) if row["last_late"] else "",
                     "job_url": show.job_url(row["last_job_id"]) if row["last_job_id"] else ""})
    return {"rows": rows, "more": panel["more"], "overdue": panel["overdue"]}


def warnings(gauges: dict[str, Any], reading: dict[str, Any], queues: list[dict[str, Any]],
             now: float) -> list[str]:
    """What needs an operator now, in words."""
    found = [f"Queue {row['name']} has {row['queued_due']} due job{'s' if row['queued_due'] != 1 else ''} "
             f"and no worker consumes it." for row in queues if row["no_consumer"]]
    if "redis" in gauges["errors"]:
        found.append("Redis could not be read: the workers, their queues and the broker's lengths are unknown.")
    if "database" in gauges["errors"] or "database" in reading.get("errors", []):
        found.append("The database could not be read: some counts are missing.")
    beat = gauges.get("beat_last_tick")
    if "redis" not in gauges["errors"] and beat is None:
        found.append("beat has never recorded a tick: no schedule fires, the rescuer and the sweeper do not run.")
    elif "redis" not in gauges["errors"] and beat is not None and now - beat > liveness.max_age():
        found.append(f"beat is not ticking (last tick {show.age_text(beat, now)}): no schedule fires, "
                     "the rescuer and the sweeper do not run.")
    return found


def overview_panels(gauges: dict[str, Any], reading: dict[str, Any], pauses: list[Pause]) -> dict[str, Any]:
    """Everything the overview template shows."""
    now = time.time()
    buckets = reading.get("buckets") or {"queues": {}, "types": {}, "series": None, "window": None}
    by_key = {(pause.kind, pause.name): pause for pause in pauses}
    queues = queue_rows(gauges, buckets, by_key)
    return {
        "queues": queues,
        "types": type_rows(gauges, buckets, by_key),
        "workers": worker_rows(gauges, now),
        "at_risk": at_risk_panels(reading, now),
        "schedules": schedule_rows(reading, now),
        "warnings": warnings(gauges, reading, queues, now),
        "pauses": [{"kind": pause.get_kind_display(), "name": pause.name, **(_pause_info(pause) or {})}
                   for pause in pauses],
        "series": buckets.get("series"),
        "taken_at": show.moment_text(reading.get("taken_at")),
        "gauges_taken_at": show.moment_text(gauges.get("taken_at")),
    }
