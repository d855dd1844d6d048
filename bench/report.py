"""The report: one JSON file in `--results-dir` and the same figures as a table on stdout,
medians with min and max (the machine is shared and noisy, so the spread is part of a figure).
"""
from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import limited, machine
from bench.environment import BASE_DIR
from bench.workers import EVENTS, WORKER_SETTINGS

RESULTS_DIR = BASE_DIR / "bench" / "results"
HEADER = ("metric", "Conveyor", "bare Celery", "ratio")

Row = tuple[str, str, str, str]


def summarize(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = runs[0].keys()
    return {k: {"median": statistics.median(r[k] for r in runs), "min": min(r[k] for r in runs),
                "max": max(r[k] for r in runs)} for k in keys}


def build(args: argparse.Namespace, parts: set[str], results: dict[str, Any]) -> dict[str, Any]:
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(args.embedded),
        "repeat": args.repeat,
        "jobs": args.jobs,
        "events": args.events,
        **({"limited": limited.describe(args)} if "drain" in parts else {}),
        "results": results,
    }


def write(report: dict[str, Any], args: argparse.Namespace) -> Path:
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"bench-{datetime.now():%Y%m%d-%H%M%S}{'-embedded' if args.embedded else ''}.json"
    out.write_text(json.dumps(report, indent=2))
    return out


def shown(path: Path) -> Path:
    return path.relative_to(BASE_DIR) if path.is_relative_to(BASE_DIR) else path


def fmt(stat: dict[str, float] | None, unit: str = "") -> str:
    if not stat:
        return "-"
    return f"{stat['median']:,.1f}{unit} [{stat['min']:,.1f}-{stat['max']:,.1f}]"


def print_table(report: dict[str, Any]) -> None:
    rows = table_rows(report["results"])
    widths = [max(len(row[i]) for row in rows + [HEADER]) for i in range(4)]
    print("  ".join(h.ljust(w) for h, w in zip(HEADER, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    print(f"\n{report['machine']}; medians of {report['repeat']} runs [min-max]; {report['jobs']} jobs per drain run")
    if limited.footer(report):
        print(limited.footer(report))


def _on_off(r: dict[str, Any], side: str, pool: str, key: str) -> str:
    """The median with task events on over the median with them off, or "" if one is missing."""
    on, off = r.get(f"{side}_{pool}_events_on"), r.get(f"{side}_{pool}_events_off")
    if not on or not off or off[key]["median"] <= 0:
        return ""
    return f"{on[key]['median'] / off[key]['median']:.2f}x"


def events_cost(r: dict[str, Any], pool: str, label: str) -> list[Row]:
    """What task events cost with the setting `pool`: events on over events off, for each side."""
    if not _on_off(r, "tracked", pool, "drain_per_s"):
        return []
    return [(f"drain rate, events on / off ({label})", _on_off(r, "tracked", pool, "drain_per_s"),
             _on_off(r, "bare", pool, "drain_per_s"), ""),
            (f"worker CPU per job, events on / off ({label})", _on_off(r, "tracked", pool, "cpu_workers_per_1000"),
             _on_off(r, "bare", pool, "cpu_workers_per_1000"), "")]


def table_rows(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []

    def add(label: str, conveyor: dict[str, float] | None, bare: dict[str, float] | None, unit: str = "") -> None:
        # a ratio to (almost) nothing says nothing: bare Celery uses no PostgreSQL at all
        ratio = f"{conveyor['median'] / bare['median']:.2f}x" if conveyor and bare and bare["median"] >= 0.05 else ""
        rows.append((label, fmt(conveyor, unit), fmt(bare, unit), ratio))

    for pool, (label, *_) in WORKER_SETTINGS.items():
        for events in EVENTS:
            c, b = r.get(f"tracked_{pool}_events_{events}"), r.get(f"bare_{pool}_events_{events}")
            if not c:
                continue
            setting = f"{label}, events {events}"
            add(f"enqueue one by one ({setting}), jobs/s", c["enqueue_per_s"], b["enqueue_per_s"] if b else None)
            add(f"drain ({setting}), jobs/s", c["drain_per_s"], b["drain_per_s"] if b else None)
            for part in ("producer", "workers", "redis", "postgres"):
                key = f"cpu_{part}_per_1000"
                add(f"CPU s per 1000 jobs, {part} ({setting})", c[key], b[key] if b else None)
            add(f"Redis PUBLISH per job ({setting})", c["redis_publish_per_job"],
                b["redis_publish_per_job"] if b else None)
        rows += events_cost(r, pool, label)
    rows += limited.table_rows(r, {pool: label for pool, (label, *_) in WORKER_SETTINGS.items()}, fmt)
    if "bulk" in r:
        add("bulk enqueue, jobs/s", r["bulk"]["bulk_enqueue_per_s"], None)
    lat_c, lat_b = r.get("latency_tracked"), r.get("latency_bare")
    if lat_c:
        for p in ("50", "95", "99"):
            add(f"create -> claim p{p}, ms", lat_c[f"claim_p{p}_ms"], lat_b[f"start_p{p}_ms"] if lat_b else None)
        for p in ("50", "95", "99"):
            add(f"create -> completed p{p}, ms", lat_c[f"done_p{p}_ms"], None)
    if "statements" in r:
        add("SQL statements per create", r["statements"]["sql_per_create"], None)
        add("SQL statements per run (claim to result stored)", r["statements"]["sql_per_run"], None)
    for name, stats in [*r.get("api", {}).items(), *r.get("console", {}).items()]:
        add(name, stats, None)
    return rows
