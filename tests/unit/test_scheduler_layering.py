"""The scheduler app's shape: reads never import writes, imports sit at the top of modules,
and the services package answers every name its adapters ask for. No database needed."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from scheduler import services

ROOT = Path(__file__).resolve().parents[2]
SCHEDULER = ROOT / "scheduler"

# Modules the services build on: importing scheduler.services from one of them is a cycle.
BELOW_SERVICES = ("selectors", "models", "timetable", "errors", "presenters", "system")


def modules() -> list[Path]:
    return sorted(path for path in SCHEDULER.rglob("*.py") if "migrations" not in path.parts)


def imported_names(path: Path) -> list[tuple[str, bool]]:
    """(module imported, whether at the top level) for every import of a module."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [(f"{node.module}.{alias.name}", id(node) in top) for alias in node.names]
    return found


@pytest.mark.parametrize("name", BELOW_SERVICES)
def test_reads_and_definitions_never_import_the_services(name: str) -> None:
    path = SCHEDULER / f"{name}.py"
    offending = [module for module, _ in imported_names(path) if module.startswith("scheduler.services")]
    assert offending == [], f"scheduler/{name}.py imports {offending}: the services import it, not the reverse"


def test_imports_sit_at_the_top_of_every_scheduler_module() -> None:
    # apps.ready() is the one place that must wait for Django's app registry
    allowed = {SCHEDULER / "apps.py"}
    inside = {str(path.relative_to(ROOT)): module for path in modules() if path not in allowed
              for module, at_top in imported_names(path) if not at_top}
    assert inside == {}


def test_the_services_package_answers_every_name_its_adapters_use() -> None:
    # the adapters (admin, tasks, API, commands) call them as `services.<name>`
    asked: set[str] = set()
    for path in modules():
        if "services" not in path.relative_to(SCHEDULER).parts:
            asked |= {node.attr for node in ast.walk(ast.parse(path.read_text()))
                      if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                      and node.value.id == "services"}
    assert asked, "the adapters call no service: has the pattern gone stale?"
    assert sorted(name for name in asked if not hasattr(services, name)) == []
    assert set(services.__all__) >= asked
