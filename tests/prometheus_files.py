"""The shipped Prometheus and Grafana files as the tests read them: which series and labels a
PromQL expression names, checked against the metric definitions of telemetry/metrics.py;
promtool to run over them, and a real Prometheus server with the shipped scrape config.

Importing telemetry.metrics needs no Django settings (the recorder reads them only when it
flushes), so this serves the unit tier.
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from telemetry import metrics

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
GRAFANA_DIR = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "conveyor.json"
# What Grafana puts in place of the dashboard's variables, for Prometheus and promtool.
GRAFANA_SUBSTITUTIONS = {"$__rate_interval": "5m", "$queue": ".*", "$type": ".*"}

# Labels Prometheus adds to every series it scrapes, whatever /metrics says.
TARGET_LABELS = frozenset({"job", "instance"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

_SERIES = re.compile(r"\bconveyor_[a-zA-Z0-9_]*")
_SELECTOR = re.compile(r"\b(conveyor_[a-zA-Z0-9_]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def definitions() -> list[metrics.Metric]:
    """Every metric telemetry/metrics.py defines."""
    return [value for value in vars(metrics).values() if isinstance(value, metrics.Metric)]


def series_labels() -> dict[str, frozenset[str]]:
    """Every series name /metrics may serve, with the labels it carries: a histogram is served
    as its _bucket (with `le`), _sum and _count series, never under its own name."""
    found: dict[str, frozenset[str]] = {}
    for metric in definitions():
        labels = frozenset(metric.labels)
        if metric.kind == "histogram":
            for suffix in HISTOGRAM_SUFFIXES:
                found[metric.name + suffix] = labels | {"le"} if suffix == "_bucket" else labels
        else:
            found[metric.name] = labels
    return found


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def dashboard_panels() -> list[dict[str, Any]]:
    """Every panel of the dashboard, those inside collapsed rows included."""
    found = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def dashboard_queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable of the dashboard."""
    for panel in dashboard_panels():
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} target {target['refId']}", target["expr"]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            selector, _, label = variable["definition"].removeprefix("label_values(").removesuffix(")").rpartition(",")
            yield f"variable {variable['name']}", selector
            yield f"variable {variable['name']}", f"sum by ({label.strip()}) ({selector})"


def as_grafana_sends(expression: str) -> str:
    """A dashboard query with its variables replaced as Grafana does: every queue and type,
    a 5-minute window."""
    for variable, value in GRAFANA_SUBSTITUTIONS.items():
        expression = expression.replace(variable, value)
    return expression


def named_series(expression: str) -> set[str]:
    """The conveyor_* series names an expression reads."""
    return set(_SERIES.findall(expression))


def expression_problems(expression: str) -> list[str]:
    """What in `expression` does not exist in telemetry/metrics.py: a series name, a label
    matched on a series that does not carry it, or a label grouped by (by, on, without...)
    that none of the series it reads carries."""
    known = series_labels()
    problems = [f"{name} is not a series /metrics serves" for name in sorted(named_series(expression))
                if name not in known]
    for name, matchers in _SELECTOR.findall(expression):
        for label in _MATCHER.findall(matchers):
            if name in known and label not in known[name] | TARGET_LABELS:
                problems.append(f"{name} has no label {label!r} (it has {sorted(known[name])})")
    carried = set(TARGET_LABELS).union(*(known.get(name, frozenset()) for name in named_series(expression)))
    for group in _GROUPING.findall(expression):
        for label in (part.strip() for part in group.split(",")):
            if label and label not in carried:
                problems.append(f"grouped by {label!r}, which none of {sorted(named_series(expression))} carries")
    return problems


def promtool() -> str:
    """The promtool binary, or a skip naming what is missing."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    return path


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def prometheus_binary() -> str:
    """The prometheus server binary, or a skip naming what is missing."""
    path = shutil.which("prometheus")
    if path is None:
        pytest.skip("prometheus is not installed (Debian package prometheus; .ci/run installs it)")
    return path


def scrape_config_for(target: str, token_file: Path, interval: str = "1s") -> dict[str, Any]:
    """The shipped prometheus.yml, scraping `target` with the token in `token_file` every
    `interval`, its rules evaluated as often and read from deploy/prometheus/."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "conveyor"]
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"] = [{"targets": [target]}]
    return config


@contextmanager
def running_prometheus(config: dict[str, Any], folder: Path) -> Iterator[str]:
    """A Prometheus server with `config` on a free port, its data and log in `folder`; its
    address. Stopped by PID on the way out, whatever happened."""
    binary = prometheus_binary()
    config_file = folder / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log_path = folder / "prometheus.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={config_file}", f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        try:
            address = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while not _ready(address):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"Prometheus did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield address
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ready(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"{address}/-/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def prometheus_query(address: str, expression: str) -> list[dict[str, Any]]:
    """The result of an instant query; a query Prometheus refuses fails the test, with its error."""
    url = f"{address}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:
        raise AssertionError(f"Prometheus refused {expression!r}: {error.read().decode()}") from error
    assert body["status"] == "success", body
    return list(body["data"]["result"])
