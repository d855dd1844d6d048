"""The shipped Prometheus files (deploy/prometheus/): the alert rules read only metrics that
telemetry/metrics.py defines, promtool accepts the rules and the scrape config, and
`promtool test rules` sees each alert fire on its faulty series and stay quiet on healthy ones.

A rule mutated to fire always, and one mutated never to fire, must each fail
alerts_test.yml: so every alert has a case where it must be quiet (after its `for:`) and one
where it must fire. promtool is Debian's `prometheus` package; without it those tests skip.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.prometheus_files import PROMETHEUS_DIR, REPO, expression_problems, run_promtool

ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
SCRAPE_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
DOCS = REPO / "docs" / "observability.md"
SEVERITIES = {"critical", "warning"}


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


ALERT_NAMES = [rule["alert"] for rule in alert_rules()]


def test_the_rules_cover_what_operators_asked_for() -> None:
    # backlog too old, due jobs and no consumer, failure rate, stale heartbeats, a rescue
    # spike, scheduler down, publish errors; and the scrape itself
    assert set(ALERT_NAMES) >= {
        "ConveyorBacklogTooOld", "ConveyorDueJobsWithoutConsumer", "ConveyorFailureRateHigh",
        "ConveyorStaleHeartbeats", "ConveyorRescueSpike", "ConveyorSchedulerDown", "ConveyorPublishErrors",
        "ConveyorMetricsDown",
    }
    assert len(ALERT_NAMES) == len(set(ALERT_NAMES)), "two rules share an alert name"


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_an_alert_reads_only_metrics_and_labels_that_exist(name: str) -> None:
    (rule,) = [rule for rule in alert_rules() if rule["alert"] == name]
    assert expression_problems(rule["expr"]) == []


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_an_alert_says_how_bad_it_is_and_where_to_look(name: str) -> None:
    (rule,) = [rule for rule in alert_rules() if rule["alert"] == name]
    assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), f"{name} has no `for:`"
    assert rule.get("labels", {}).get("severity") in SEVERITIES
    annotations = rule.get("annotations", {})
    assert annotations.get("summary") and annotations.get("description")
    # whatever the alert is per (queue, type, reason...) is named where the operator reads it
    for label in {part.strip() for group in re.findall(r"\bby\s*\(([^)]*)\)", rule["expr"])
                  for part in group.split(",") if part.strip()}:
        for part in ("summary", "description"):
            assert f"$labels.{label}" in annotations[part], f"{name}'s {part} does not name the {label}"
    # the commands it points to exist, with the actions it names
    for command, action in re.findall(r"manage\.py (\w+)(?: (\w+))?", annotations["description"]):
        (source,) = REPO.glob(f"*/management/commands/{command}.py") or [None]
        assert source is not None, f"{name} points to `manage.py {command}`, which does not exist"
        if action and action not in {"ID"}:
            assert re.search(rf'add_parser\(\s*"{action}"', source.read_text()), \
                f"`manage.py {command}` has no action {action}"


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_an_alert_is_documented(name: str) -> None:
    assert re.search(rf"^### {name}\b", DOCS.read_text(), re.MULTILINE), f"docs/observability.md has no ### {name}"


def test_promtool_accepts_the_rules() -> None:
    done = run_promtool("check", "rules", "--lint=all", "--lint-fatal", ALERTS.name, cwd=PROMETHEUS_DIR)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERT_NAMES)} rules found" in done.stdout


def test_the_scrape_config_reads_the_token_from_a_file_and_loads_the_rules(tmp_path: Path) -> None:
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "conveyor" and job["metrics_path"] == "/metrics"
    assert config["global"]["scrape_interval"] == "15s"
    assert config["rule_files"] == [ALERTS.name]
    token_file = job["authorization"]["credentials_file"]
    assert not Path(token_file).is_absolute(), "read next to prometheus.yml, wherever it is installed"

    for name in (SCRAPE_CONFIG.name, ALERTS.name):
        shutil.copy(PROMETHEUS_DIR / name, tmp_path / name)
    # without the token file the config is refused, naming it: the token is read from there
    missing = run_promtool("check", "config", SCRAPE_CONFIG.name, cwd=tmp_path)
    assert missing.returncode != 0 and token_file in missing.stdout + missing.stderr
    (tmp_path / token_file).write_text("a-metrics-token\n")
    done = run_promtool("check", "config", SCRAPE_CONFIG.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERT_NAMES)} rules found" in done.stdout


def test_promtool_sees_each_alert_fire_on_its_faulty_series_only() -> None:
    done = run_promtool("test", "rules", ALERTS_TEST.name, cwd=PROMETHEUS_DIR)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    cases = _cases()
    for name in ALERT_NAMES:
        assert any(alert == name and firing for alert, _, firing in cases), f"{name} is never seen firing"
        assert any(alert == name and not firing for alert, _, firing in cases), f"{name} is never seen quiet"


@pytest.mark.parametrize("mutation", ["always", "never"])
@pytest.mark.parametrize("name", ALERT_NAMES)
def test_a_rule_that_always_or_never_fires_fails_the_rule_tests(name: str, mutation: str, tmp_path: Path) -> None:
    document = yaml.safe_load(ALERTS.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == name:
                rule["expr"] = "vector(1)" if mutation == "always" else "vector(1) == 0"
    (tmp_path / ALERTS.name).write_text(yaml.safe_dump(document, sort_keys=False))
    shutil.copy(ALERTS_TEST, tmp_path / ALERTS_TEST.name)

    done = run_promtool("test", "rules", ALERTS_TEST.name, cwd=tmp_path)
    assert done.returncode != 0, f"{name} mutated to fire {mutation} still passes alerts_test.yml"
    failed_at = set(re.findall(rf"alertname: {name}, time: (\S+?),", done.stdout + done.stderr))
    # the case that caught it is one where it must be quiet (always) or must fire (never)
    catching = {time for alert, time, firing in _cases() if alert == name and firing == (mutation == "never")}
    assert failed_at & catching, (
        f"{name} mutated to fire {mutation} was not caught by a case expecting it "
        f"{'to fire' if mutation == 'never' else 'quiet'}:\n{done.stdout}")


def _cases() -> list[tuple[str, str, bool]]:
    """(alert name, eval time as promtool prints it, whether it must fire) of alerts_test.yml."""
    document = yaml.safe_load(ALERTS_TEST.read_text())
    return [(case["alertname"], _promtool_duration(case["eval_time"]), bool(case.get("exp_alerts")))
            for group in document["tests"] for case in group["alert_rule_test"]]


def _promtool_duration(text: str) -> str:
    """A test file's duration ("90m") as promtool prints it in a failure ("1h30m")."""
    units = {"s": 1, "m": 60, "h": 3600}
    seconds = sum(int(amount) * units[unit] for amount, unit in re.findall(r"(\d+)([smh])", text))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return "".join(f"{amount}{unit}" for amount, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if amount) \
        or "0s"
