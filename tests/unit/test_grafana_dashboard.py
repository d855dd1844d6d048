"""The shipped Grafana dashboard (deploy/grafana/conveyor.json): its datasource is a variable,
it filters by queue and type, every query reads only metrics and labels of telemetry/metrics.py,
every metric has a panel, the panels tile the grid, and every query, run by promtool over
series shaped like /metrics's, returns data.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.prometheus_files import (
    as_grafana_sends,
    dashboard,
    dashboard_panels,
    dashboard_queries,
    definitions,
    expression_problems,
    named_series,
    run_promtool,
    series_labels,
)

DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
GRID_WIDTH = 24


def test_the_datasource_is_a_variable_that_every_query_uses() -> None:
    variables = {variable["name"]: variable for variable in dashboard()["templating"]["list"]}
    source = variables["DS_PROMETHEUS"]
    assert source["type"] == "datasource" and source["query"] == "prometheus"
    for panel in dashboard_panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE


def test_queue_and_type_variables_filter_the_queries_that_carry_them() -> None:
    variables = {variable["name"]: variable for variable in dashboard()["templating"]["list"]}
    for name in ("queue", "type"):
        assert variables[name]["type"] == "query"
        assert variables[name]["multi"] and variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
    labels = series_labels()
    for where, expression in dashboard_queries():
        if where.startswith("variable"):
            continue
        for label in ("queue", "type"):
            if any(label in labels.get(name, ()) for name in named_series(expression)):
                assert f'{label}=~"${label}"' in expression, f"{where} ignores the {label} chosen: {expression}"


def test_every_query_reads_only_metrics_and_labels_that_exist() -> None:
    problems = [f"{where}: {problem}"
                for where, expression in dashboard_queries() for problem in expression_problems(expression)]
    assert problems == []


def test_every_metric_has_a_panel() -> None:
    shown = set().union(*(named_series(expression) for _, expression in dashboard_queries()))
    missing = [metric.name for metric in definitions()
               if not {metric.name, f"{metric.name}_bucket"} & shown]
    assert missing == [], f"no panel shows {missing}"


def test_panels_tile_the_grid_without_overlapping() -> None:
    ids = [panel["id"] for panel in dashboard_panels()]
    assert len(ids) == len(set(ids)), "two panels share an id"
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard_panels():
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= GRID_WIDTH, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']!r} overlaps {taken[(x, y)]!r}"
                taken[(x, y)] = panel["title"]


def test_every_query_returns_data_from_series_shaped_like_the_metrics(tmp_path: Path) -> None:
    """promtool evaluates each query over one sample a minute of every series /metrics serves
    (every label set, both `completed` and `failed` where a status is carried) and must find
    a result that is a number: a query that is not valid PromQL, or that selects nothing, fails."""
    (tmp_path / "none.yml").write_text("groups: []\n")
    cases = []
    for where, query in dashboard_queries():
        expression = as_grafana_sends(query)
        cases.append({"expr": f"clamp_max(count(({expression}) == ({expression})), 1)", "eval_time": "20m",
                      "exp_samples": [{"labels": "{}", "value": 1}], "_where": where})
    spec = {"rule_files": ["none.yml"], "evaluation_interval": "1m",
            "tests": [{"name": "dashboard", "interval": "1m", "input_series": list(_input_series()),
                       "promql_expr_test": [{k: v for k, v in case.items() if k != "_where"} for case in cases]}]}
    (tmp_path / "dashboard_test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    done = run_promtool("test", "rules", "dashboard_test.yml", cwd=tmp_path)
    output = done.stdout + done.stderr
    # promtool quotes the expressions that failed as JSON does
    failed = [f"{case['_where']} returns no number: {case['expr']}"
              for case in cases if json.dumps(case["expr"]) in output]
    assert done.returncode == 0, "\n".join(failed or [output])
    assert len(cases) >= 30


def _input_series() -> Iterator[dict[str, str]]:
    values = {"queue": "default", "type": "demo.echo", "outcome": "completed", "reason": "handler"}
    for metric in definitions():
        for status in (["completed", "failed"] if "status" in metric.labels else [""]):
            labels = {label: status if label == "status" else values[label] for label in metric.labels}
            if metric.kind == "counter":
                yield _series(metric.name, labels, "0+1x30")
            elif metric.kind == "gauge":
                # a timestamp gauge keeps up with the clock; the others hold a count
                yield _series(metric.name, labels, "0+60x30" if metric.name.endswith("_timestamp_seconds") else "1x30")
            else:
                bounds = [*(format(bound, "g") for bound in metric.buckets), "+Inf"]
                for index, bound in enumerate(bounds):  # cumulative: a larger bound counts more
                    yield _series(f"{metric.name}_bucket", {**labels, "le": bound}, f"0+{index + 1}x30")
                yield _series(f"{metric.name}_count", labels, f"0+{len(bounds)}x30")
                yield _series(f"{metric.name}_sum", labels, "0+1x30")


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    selector = ",".join(f'{label}="{value}"' for label, value in labels.items())
    return {"series": f"{name}{{{selector}}}", "values": values}


@pytest.mark.parametrize("title", ["Failure rate, by type", "Oldest due job's wait, by queue"])
def test_panels_show_the_alert_thresholds(title: str) -> None:
    (panel,) = [panel for panel in dashboard_panels() if panel["title"] == title]
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"
    assert [step["value"] for step in steps][1:] == [0.05 if "Failure" in title else 600]
