"""The soak's report: what the Job rows, the effect table and the event files say happened.

Figures (the JSON report's top-level keys):
- created, completed, failed, cancelled; lost: created jobs not terminal at the end;
- completed_without_effect: completed jobs with no effect row (the platform said done, the
  handler never got that far);
- double_effects: jobs with more than one effect row, split into _explained (no more extra
  rows than the job's attempts recorded `lost` or `interrupted`) and _unexplained;
- limit_violations: handler runs that started while their limit was already full, from every
  run's start and end in the event files; a run cut short by a kill ends when its process
  died (the soak's SIGKILL, or the supervisor's note that the process was gone);
- deliveries, handler_starts, deliveries_that_ran_nothing (= deliveries - handler starts);
- processes_exited_by_themselves: workers or beat that exited without being struck (each was
  replaced, as a supervisor would);
- seconds_from_last_fault_to_all_terminal.
The soak fails (`ok` false) on lost, completed without effect, unexplained double effects,
limit violations or processes that exited by themselves above zero.
"""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from soak.events import read_all
from soak.spec import EFFECT_TABLE, KEYED, TYPES, limit_of

FAULT_KINDS = ("sigkill", "sigterm", "redis_restart", "postgres_restart")
# a worker or beat that exited by itself is a failure too: under `make run` one exiting process
# stops the whole stack
FAILING = ("lost", "completed_without_effect", "double_effects_unexplained", "limit_violations",
           "processes_exited_by_themselves")
EXAMPLES = 10


def database_figures() -> dict[str, Any]:
    """Job statuses, effect rows and attempt outcomes of the soak's jobs, through Django."""
    from django.db import connection
    from django.db.models import Count

    from jobs.models import Job, JobAttempt

    statuses = Counter(dict(Job.objects.filter(type__in=TYPES).values_list("status").annotate(n=Count("pk"))))
    rows = Job.objects.filter(type__in=TYPES).values_list("pk", "status", "type", "created_at")
    status_of, type_of, created_at = {}, {}, {}
    for pk, status, job_type, created in rows:
        status_of[str(pk)], type_of[str(pk)], created_at[str(pk)] = status, job_type, created.timestamp()
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    for job_id, outcome, n in (JobAttempt.objects.filter(job__type__in=TYPES).values_list("job_id", "outcome")
                               .annotate(n=Count("pk"))):
        outcomes[str(job_id)][outcome] += n
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT job_id, count(*) FROM {EFFECT_TABLE} GROUP BY job_id")
        effects = {str(job_id): n for job_id, n in cursor.fetchall()}
    return {"statuses": statuses, "status_of": status_of, "type_of": type_of, "created_at": created_at,
            "outcomes": outcomes, "effects": effects}


def _runs(events: list[dict[str, Any]], kills: dict[int, list[float]], deaths: dict[int, float],
          now: float) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Every handler run with its start and end; how each end was known."""
    ends = {e["run"]: e for e in events if e["e"] == "end"}
    by_pid: dict[int, list[float]] = defaultdict(list)
    for event in events:
        by_pid[event["pid"]].append(event["t"])
    runs: list[dict[str, Any]] = []
    how: Counter[str] = Counter()
    for start in (e for e in events if e["e"] == "start"):
        t = start["t"]
        if start["run"] in ends:
            end, source = ends[start["run"]]["t"], "end"
        else:
            candidates = [(k, "killed") for k in kills.get(start["pgid"], []) if k >= t]
            if deaths.get(start["pid"], 0) >= t:
                candidates.append((deaths[start["pid"]], "process died"))
            later = [other for other in by_pid[start["pid"]] if other > t]
            if later:  # the process went on to another delivery: this run was over by then
                candidates.append((min(later), "next event of its process"))
            end, source = min(candidates) if candidates else (now, "unknown (taken as the end of the soak)")
        how[source] += 1
        runs.append({"run": start["run"], "job": start["job"], "type": start["type"], "key": start.get("key"),
                     "pid": start["pid"], "start": t, "end": end, "ended_by": source})
    return runs, how


def _violations(runs: list[dict[str, Any]], t0: float) -> list[dict[str, Any]]:
    """Runs that started while as many runs as the limit allows were already running."""
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        if limit_of(run["type"]) is not None:
            groups[(run["type"], run["key"] if run["type"] == KEYED else None)].append(run)
    found = []
    for (job_type, key), members in groups.items():
        limit = limit_of(job_type) or 0
        # ends before starts at the same instant: a slot handed over is not an overlap
        points = sorted([(r["end"], 0, i) for i, r in enumerate(members)] +
                        [(r["start"], 1, i) for i, r in enumerate(members)])
        active: set[int] = set()
        for _, is_start, i in points:
            if not is_start:
                active.discard(i)
                continue
            active.add(i)
            if len(active) > limit:
                found.append({"type": job_type, "key": key, "at": round(members[i]["start"] - t0, 3),
                              "running": [{"job": members[j]["job"], "pid": members[j]["pid"],
                                           "from": round(members[j]["start"] - t0, 3),
                                           "to": round(members[j]["end"] - t0, 3),
                                           "ended_by": members[j]["ended_by"]} for j in sorted(active)]})
    return found


def _overlaps_of_one_job(runs: list[dict[str, Any]]) -> list[str]:
    """Jobs that had two runs at once (invariant 1: at most one live execution per job)."""
    by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        by_job[run["job"]].append(run)
    found = []
    for job, members in by_job.items():
        members.sort(key=lambda r: r["start"])
        if any(b["start"] < a["end"] for a, b in zip(members, members[1:])):
            found.append(job)
    return found


def _waits(runs: list[dict[str, Any]], db: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per type, seconds from a job's creation to its first handler start (median, max): how
    long jobs waited for a worker or a slot, and so whether the sweeper's windows were reached."""
    first: dict[str, float] = {}
    for run in runs:
        first[run["job"]] = min(first.get(run["job"], run["start"]), run["start"])
    by_type: dict[str, list[float]] = defaultdict(list)
    for job, start in first.items():
        if job in db["created_at"]:
            by_type[db["type_of"][job]].append(max(0.0, start - db["created_at"][job]))
    return {job_type: {"median": round(statistics.median(waits), 3), "max": round(max(waits), 3)}
            for job_type, waits in sorted(by_type.items())}


def build(*, workdir: Path, planned: int, journal_entries: list[dict[str, Any]], deaths: dict[int, float],
          t0: float, now: float, last_fault_end: float | None, all_terminal_at: float | None,
          extra: dict[str, Any]) -> dict[str, Any]:
    db = database_figures()
    statuses, effects, outcomes = db["statuses"], db["effects"], db["outcomes"]
    events = read_all(workdir)
    runs, ended_by = _runs(events, _kills(journal_entries), deaths, now)
    violations = _violations(runs, t0)

    in_db = sum(statuses.values())
    terminal = statuses["completed"] + statuses["failed"] + statuses["cancelled"]
    completed_ids = [job for job, status in db["status_of"].items() if status == "completed"]
    without_effect = [job for job in completed_ids if not effects.get(job)]
    doubles = {job: n for job, n in effects.items() if n > 1}
    explained = [job for job, n in doubles.items()
                 if n - 1 <= outcomes[job]["lost"] + outcomes[job]["interrupted"]]
    unexplained = sorted(set(doubles) - set(explained))
    deliveries = sum(1 for e in events if e["e"] == "delivery")
    starts = len(runs)
    report: dict[str, Any] = {
        "planned": planned,
        "created": in_db,
        "completed": statuses["completed"],
        "failed": statuses["failed"],
        "cancelled": statuses["cancelled"],
        "lost": in_db - terminal,
        "completed_without_effect": len(without_effect),
        "double_effects": len(doubles),
        "double_effects_explained": len(explained),
        "double_effects_unexplained": len(unexplained),
        "limit_violations": len(violations),
        "deliveries": deliveries,
        "handler_starts": starts,
        "deliveries_that_ran_nothing": deliveries - starts,
        # not a failure of the soak (a supervisor replaces them, as the soak does), but worth a look
        "processes_exited_by_themselves": sum(1 for e in journal_entries if e["kind"] in ("worker_exit", "beat_exit")),
        "seconds_from_last_fault_to_all_terminal": (round(max(0.0, all_terminal_at - last_fault_end), 1)
                                                    if all_terminal_at is not None and last_fault_end is not None
                                                    else None),
    }
    report["problems"] = [f"{key} = {report[key]}" for key in FAILING if report[key] > 0]
    if in_db != planned:  # the load itself fell short: nothing above says the whole story
        report["problems"].insert(0, f"created {in_db} of {planned} jobs")
    report["ok"] = not report["problems"]
    report["faults"] = [e for e in journal_entries if e["kind"] in FAULT_KINDS]
    report["noticed"] = [e for e in journal_entries if e["kind"] not in FAULT_KINDS]
    report["details"] = _details(db, events, runs, ended_by, violations=violations, without_effect=without_effect,
                                 doubles=doubles, unexplained=unexplained)
    report.update(extra)
    return report


def _kills(journal_entries: list[dict[str, Any]]) -> dict[int, list[float]]:
    """When each worker's process group was killed (or stopped by force), by its group id."""
    kills: dict[int, list[float]] = defaultdict(list)
    for entry in journal_entries:
        if entry["kind"] in ("sigkill", "worker_stop_timeout") and entry.get("pgid"):
            kills[entry["pgid"]].append(entry["t"])
    return kills


def _details(db: dict[str, Any], events: list[dict[str, Any]], runs: list[dict[str, Any]], ended_by: Counter[str], *,
             violations: list[dict[str, Any]], without_effect: list[str], doubles: dict[str, int],
             unexplained: list[str]) -> dict[str, Any]:
    """What a reader needs to look into a problem: totals and a few examples of each kind."""
    statuses, effects, outcomes = db["statuses"], db["effects"], db["outcomes"]
    attempt_outcomes: Counter[str] = Counter()
    for counts in outcomes.values():
        attempt_outcomes.update(counts)
    return {
        "statuses_at_the_end": dict(statuses),
        "attempt_outcomes": dict(attempt_outcomes),
        "effect_rows": sum(effects.values()),
        "failed_with_effect": sum(1 for job, s in db["status_of"].items() if s == "failed" and effects.get(job)),
        "wait_to_first_start_s": _waits(runs, db),
        "runs_ended_by": dict(ended_by),
        # a handler that raised: the database away too long, or its process told to stop
        "runs_ended_in_error": sum(1 for e in events if e["e"] == "end" and not e.get("ok")),
        "jobs_run_twice_at_once": _overlaps_of_one_job(runs)[:EXAMPLES],
        "examples": {
            "lost": [job for job, s in db["status_of"].items() if s in ("queued", "running")][:EXAMPLES],
            "completed_without_effect": without_effect[:EXAMPLES],
            "double_effects_unexplained": [{"job": job, "effects": doubles[job], "attempts": dict(outcomes[job])}
                                           for job in unexplained[:EXAMPLES]],
            "limit_violations": violations[:EXAMPLES],
        },
    }


LABELS = [
    ("created", "created"), ("completed", "completed"), ("failed", "failed"), ("cancelled", "cancelled"),
    ("lost", "lost (not terminal at the end)"), ("completed_without_effect", "completed without effect"),
    ("double_effects", "double effects"),
    ("double_effects_explained", "  explained by a lost/interrupted attempt"),
    ("double_effects_unexplained", "  unexplained"), ("limit_violations", "concurrency-limit violations"),
    ("deliveries", "run_job deliveries"), ("handler_starts", "handler starts"),
    ("deliveries_that_ran_nothing", "deliveries that ran nothing"),
    ("processes_exited_by_themselves", "workers/beat that exited by themselves"),
    ("seconds_from_last_fault_to_all_terminal", "seconds from the last fault to all terminal"),
]


def render(report: dict[str, Any]) -> str:
    lines = ["", "== soak report", *(f"  {label:<46} {'-' if report[key] is None else report[key]}"
                                     for key, label in LABELS)]
    lines.append("  faults:")
    lines += [f"    {fault['at']:8.1f}s  {fault['kind']:<17} {fault['message']}" for fault in report["faults"]]
    noticed = [e for e in report["noticed"] if e["kind"] != "replacement"]
    if noticed:
        lines.append("  noticed:")
        lines += [f"    {e['at']:8.1f}s  {e['kind']:<17} {e['message']}" for e in noticed]
    details = report["details"]
    lines.append(f"  attempt outcomes: {details['attempt_outcomes']}")
    lines.append(f"  handler runs ended by: {details['runs_ended_by']}; of those ended, in error: "
                 f"{details['runs_ended_in_error']}")
    waits = ", ".join(f"{t} {w['median']}/{w['max']}" for t, w in details["wait_to_first_start_s"].items())
    lines.append(f"  seconds from creation to first start, median/max: {waits}")
    if details["jobs_run_twice_at_once"]:
        lines.append(f"  jobs with two runs at once: {', '.join(details['jobs_run_twice_at_once'][:3])}")
    examples = details["examples"]
    for key in ("lost", "completed_without_effect"):
        if examples[key]:
            lines.append(f"  {key.replace('_', ' ')}, e.g.: {', '.join(examples[key][:3])}")
    for double in examples["double_effects_unexplained"][:3]:
        lines.append(f"  unexplained double effect: job {double['job']}, {double['effects']} rows, "
                     f"attempts {double['attempts']}")
    for violation in examples["limit_violations"][:3]:
        key = f" key {violation['key']}" if violation["key"] else ""
        running = "; ".join(f"{r['job'][:8]} {r['from']}-{r['to']}s ({r['ended_by']})" for r in violation["running"])
        lines.append(f"  violation: {violation['type']}{key} at {violation['at']}s, running: {running}")
    lines.append(f"  verdict: {'PASS' if report['ok'] else 'FAIL: ' + ', '.join(report['problems'])}")
    return "\n".join(lines)
