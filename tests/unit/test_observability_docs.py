"""docs/observability.md's table of metrics is the list in telemetry/metrics.py: every metric,
with its type and labels, and nothing else."""
from __future__ import annotations

import re

from tests.prometheus_files import REPO, definitions

DOCS = REPO / "docs" / "observability.md"
ROW = re.compile(r"^\| `(conveyor_[a-z0-9_]+)` \| (\w+) \| ([^|]*) \|")


def documented_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (type, labels) of each row of the table; a label column of "—" means none."""
    rows = {}
    for line in DOCS.read_text().splitlines():
        match = ROW.match(line)
        if match:
            labels = tuple(part.strip() for part in match.group(3).split(",") if part.strip() not in ("", "—"))
            rows[match.group(1)] = (match.group(2), labels)
    return rows


def test_the_table_of_metrics_is_the_list_in_telemetry_metrics() -> None:
    documented = documented_metrics()
    defined = {metric.name: (metric.kind, metric.labels) for metric in definitions()}
    assert len(documented) >= 20, "the table of metrics was not found: has its format changed?"
    assert sorted(set(defined) - set(documented)) == [], "metrics missing from docs/observability.md"
    assert sorted(set(documented) - set(defined)) == [], "docs/observability.md lists metrics that do not exist"
    wrong = {name: (documented[name], defined[name]) for name in defined if documented[name] != defined[name]}
    assert wrong == {}, "documented (type, labels) differ from telemetry/metrics.py's"
