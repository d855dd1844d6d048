"""The scheduler app's shape beyond what the import rules check (tests/unit/test_layering.py
RULES, which also keep its reads and definitions below its services): imports sit at the top of
modules, and the services package answers every name its adapters ask for. No database needed."""
from __future__ import annotations

import ast
from pathlib import Path

from scheduler import services

ROOT = Path(__file__).resolve().parents[2]
SCHEDULER = ROOT / "scheduler"


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
