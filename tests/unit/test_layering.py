"""Imports run one way: every import of the platform's packages, function-level ones included,
read from the source (nothing is imported), and checked for cycles and forbidden edges.

An edge is "module A imports module B". `from pkg import name` is an edge to `pkg.name` when
that is a module, else to `pkg` (a name defined in, or re-exported by, the package's
`__init__`). Relative imports are resolved against the importing module, and
`importlib.import_module("a.b")` with a literal name counts as an import of `a.b`. Imports
under `if TYPE_CHECKING:` count too: a dependency that only the type checker sees is still a
dependency of the design.

The implicit import of a package's `__init__` when one of its submodules is imported is not an
edge: every submodule would otherwise depend on its package, and every `__init__` that imports
one of its own submodules (Celery's documented `config/__init__.py` importing `config.celery`,
a services package re-exporting its phases) would be a cycle. That pattern is safe as long as
the submodule does not reach back for a name that the `__init__` defines, and that case is an
explicit `from pkg import name` edge back to the package, so it is still reported.

This module imports neither Django nor the project: it runs in the unit tier (no database,
no broker).
"""
from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

# The platform's packages; bench/, soak/ and tests/ are tools around it and may import anything.
PACKAGES = ("jobs", "scheduler", "handlers", "config", "api", "telemetry", "observability", "notifications", "audit",
            "console")


def _project_root() -> Path:
    """The folder with manage.py, wherever this test file is moved within tests/."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "manage.py").is_file():
            return folder
    raise RuntimeError(f"no manage.py above {__file__}")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} -> {self.target}"


@dataclass(frozen=True)
class Rule:
    """Modules matching `sources` must not import modules matching `forbidden`; or, when
    `only` is given, may import no project module outside it."""

    why: str
    sources: tuple[str, ...]
    forbidden: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None
    exempt: tuple[str, ...] = ()

    def violated_by(self, edge: Edge, project: Iterable[str]) -> bool:
        if not matches(edge.source, self.sources) or matches(edge.source, self.exempt):
            return False
        if self.only is not None:
            return matches(edge.target, project) and not matches(edge.target, self.only)
        return matches(edge.target, self.forbidden)


# The declared direction of the platform's imports (docs/architecture: "Imports run one way").
# A pattern names a module and everything below it: "jobs.services" is the package and its phases.
RULES = (
    Rule("the scheduler calls the jobs app, never the reverse", ("jobs",), forbidden=("scheduler",)),
    Rule(
        "the scheduler calls the jobs app's services, selectors and errors, never its adapters",
        ("scheduler",),
        forbidden=("jobs.api", "jobs.admin", "jobs.worker", "jobs.tasks", "jobs.management"),
    ),
    Rule(
        "handlers see only the handler API (handlers.context, handlers.registry, handlers.errors)",
        ("handlers",),
        forbidden=("jobs", "scheduler", "config", "api"),
    ),
    Rule("the shared API plumbing imports no app", ("api",), forbidden=("jobs", "scheduler", "handlers")),
    Rule("telemetry sits below every app: they all record into it", ("telemetry",),
         only=("telemetry",)),
    Rule("the apps record telemetry; what reads it back (observability, notifications) sits above them",
         ("jobs", "scheduler", "handlers", "api", "telemetry"), forbidden=("observability", "notifications")),
    Rule(
        "publishing hands a job to the broker and knows nothing of the worker; the services call it",
        ("jobs.publishing",),
        forbidden=("jobs.worker", "jobs.tasks", "jobs.services"),
    ),
    Rule(
        "services are called by the API, the admin, commands, tasks and the worker, never the reverse",
        ("jobs.services",),
        forbidden=("jobs.api", "jobs.admin", "jobs.tasks", "jobs.worker", "jobs.management"),
    ),
    Rule(
        "the scheduler's services are called by its API, admin, commands and tasks, never the reverse",
        ("scheduler.services",),
        forbidden=("scheduler.api", "scheduler.admin", "scheduler.tasks", "scheduler.management"),
    ),
    Rule(
        "storage builds its SQL from the models, the states and the settings alone",
        ("jobs.storage",),
        only=("jobs.storage", "jobs.models", "jobs.states", "jobs.conf"),
    ),
    Rule(
        "the worker is what runs inside a Celery worker: only the tasks and the app's start-up load it",
        ("jobs", "scheduler", "config", "api"),
        forbidden=("jobs.worker",),
        exempt=("jobs.worker", "jobs.tasks", "jobs.apps"),
    ),
    # the leaves every layer builds on: what they import must not grow into a cycle
    Rule("the typed settings read Django's settings and nothing of the platform", ("jobs.conf",), only=()),
    Rule("the statuses and their transitions import nothing of the platform", ("jobs.states",), only=()),
    Rule("the errors may name a status, and import nothing else of the platform", ("jobs.errors",),
         only=("jobs.states",)),
    Rule("the models build on the statuses and the settings alone (and on each other)", ("jobs.models",),
         only=("jobs.states", "jobs.conf", "jobs.models")),
    Rule("the audit log sits below every app that acts for a person: it imports none of them", ("audit",),
         only=("audit",)),
    Rule("the console sits above every app: nothing imports it",
         ("jobs", "scheduler", "handlers", "api", "telemetry", "observability", "notifications", "audit", "config"),
         forbidden=("console",)),
    Rule(
        "validation checks values against the settings, the models and the statuses, raising the errors",
        ("jobs.validation",),
        only=("jobs.conf", "jobs.errors", "jobs.models", "jobs.states"),
    ),
    Rule(
        "the console and the API read through selectors and write through services, never SQL nor the broker",
        ("jobs.admin", "jobs.api", "scheduler.admin", "scheduler.api", "api", "notifications.admin",
         "notifications.api", "observability"),
        forbidden=("jobs.storage", "jobs.publishing"),
    ),
    Rule("settings are read by the apps, and read none of them", ("config.settings",),
         forbidden=("jobs", "scheduler", "handlers", "api")),
    Rule("a read never calls a write", ("jobs.selectors",), forbidden=("jobs.services",)),
    Rule("a read never calls a write: notifications too", ("notifications.selectors",),
         forbidden=("notifications.services",)),
    Rule(
        "the scheduler's reads and definitions sit below its services: the services import them",
        ("scheduler.selectors", "scheduler.models", "scheduler.timetable", "scheduler.errors",
         "scheduler.presenters", "scheduler.system"),
        forbidden=("scheduler.services",),
    ),
)


def matches(module: str, patterns: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in patterns)


# --- reading the source --------------------------------------------------------------------------


def discover(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of the packages under root, by dotted name (a package by its own name)."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if any(part.startswith(".") for part in parts):
                continue  # an editor's or a tool's hidden file, not a module
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of name that is a project module; None outside the project."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _base_of_relative(module: str, path: Path, level: int) -> str:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def _imported_names(node: ast.AST, module: str, path: Path) -> Iterator[str]:
    """The dotted names one AST node imports: candidates, resolved against the modules later."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = _base_of_relative(module, path, node.level)
            base = f"{package}.{base}" if base else package
        for alias in node.names:
            # `from pkg import sub` means pkg.sub if that is a module; _known falls back to pkg
            yield base if alias.name == "*" else f"{base}.{alias.name}"
    elif isinstance(node, ast.Call) and _is_import_call(node.func):
        first = node.args[0] if node.args else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and not first.value.startswith("."):
            yield first.value


def _is_import_call(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in {"import_module", "__import__"}
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def module_edges(module: str, path: Path, modules: dict[str, Path]) -> list[Edge]:
    """Every import of one module, at any depth of its AST, first occurrence per target."""
    found: dict[str, Edge] = {}
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        for name in _imported_names(node, module, path):
            target = _known(name, modules)
            if target and target != module and target not in found:
                found[target] = Edge(module, target, getattr(node, "lineno", 0))
    return sorted(found.values(), key=lambda e: (e.line, e.target))


def build_graph(root: Path, packages: Iterable[str]) -> dict[str, list[Edge]]:
    modules = discover(root, packages)
    return {name: module_edges(name, path, modules) for name, path in modules.items()}


# --- checking the graph --------------------------------------------------------------------------


def strongly_connected(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """Tarjan's components of more than one module, iteratively (the graph may be deep)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            edge = next(edges, None)
            if edge is not None:
                target = edge.target
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph.get(target, []))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def shortest_cycle(graph: dict[str, list[Edge]], component: list[str]) -> list[Edge]:
    """One shortest cycle through the component's first module, as the edges that make it."""
    start, members = component[0], set(component)
    came_by: dict[str, Edge] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for edge in graph.get(node, []):
            if edge.target not in members or edge.target in came_by:
                continue
            came_by[edge.target] = edge
            if edge.target == start:
                path = [edge]
                while path[0].source != start:
                    path.insert(0, came_by[path[0].source])
                return path
            queue.append(edge.target)
    raise AssertionError(f"{component} is not a cycle")


def cycles(graph: dict[str, list[Edge]]) -> list[list[Edge]]:
    return [shortest_cycle(graph, component) for component in strongly_connected(graph)]


def forbidden_edges(graph: dict[str, list[Edge]], rules: Iterable[Rule]) -> list[tuple[Rule, Edge]]:
    project = list(graph)
    return [
        (rule, edge)
        for edges in graph.values()
        for edge in edges
        for rule in rules
        if rule.violated_by(edge, project)
    ]


def describe_cycle(cycle: list[Edge]) -> str:
    return " -> ".join(f"{e.source}:{e.line}" for e in cycle) + f" -> {cycle[-1].target}"


# --- the platform's imports ----------------------------------------------------------------------


@cache
def platform_graph() -> dict[str, list[Edge]]:
    # not a fixture: a failure's traceback would print the whole graph as the argument
    return build_graph(_project_root(), PACKAGES)


def test_the_walk_sees_the_platform() -> None:
    graph = platform_graph()
    # a walk that found nothing would pass every check below
    assert {"jobs.models", "jobs.states", "config.settings"} <= set(graph)
    assert sum(len(edges) for edges in graph.values()) > 50


def test_no_import_cycles() -> None:
    graph = platform_graph()
    components = strongly_connected(graph)
    if components:
        shown = (f"{', '.join(c)}\n    {describe_cycle(shortest_cycle(graph, c))}" for c in components)
        pytest.fail(f"{len(components)} import cycle(s): the modules of each, and one of its shortest loops:\n"
                    + "\n".join(shown))


def test_imports_run_one_way() -> None:
    found = forbidden_edges(platform_graph(), RULES)
    if found:
        pytest.fail(f"{len(found)} forbidden import(s):\n" + "\n".join(f"{edge}  ({rule.why})" for rule, edge in found))


# --- the checks themselves, on a planted project -------------------------------------------------


def _plant(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_cycle_hidden_in_a_function_is_found(tmp_path: Path) -> None:
    _plant(tmp_path, {
        "plant/__init__.py": "",
        "plant/a.py": "def later():\n    from plant import b\n    return b\n",
        "plant/b.py": "import plant.a\n",
        "plant/c.py": "from . import a\n",  # into the cycle, not part of it
    })
    graph = build_graph(tmp_path, ["plant"])
    found = cycles(graph)
    assert [[(e.source, e.target) for e in cycle] for cycle in found] == [
        [("plant.a", "plant.b"), ("plant.b", "plant.a")]
    ]
    assert describe_cycle(found[0]) == "plant.a:2 -> plant.b:1 -> plant.a"


def test_relative_and_string_imports_are_edges(tmp_path: Path) -> None:
    _plant(tmp_path, {
        "plant/__init__.py": "",
        "plant/sub/__init__.py": "from .inner import thing\n",
        "plant/sub/inner.py": "from ..top import x\nthing = 1\n",
        "plant/top.py": "import importlib\n\ndef load():\n    return importlib.import_module('plant.sub.inner')\n",
    })
    graph = build_graph(tmp_path, ["plant"])
    targets = {name: [e.target for e in edges] for name, edges in graph.items()}
    assert targets["plant.sub"] == ["plant.sub.inner"]
    assert targets["plant.sub.inner"] == ["plant.top"]
    assert targets["plant.top"] == ["plant.sub.inner"]
    assert [[e.source for e in cycle] for cycle in cycles(graph)] == [["plant.sub.inner", "plant.top"]]


def test_a_package_importing_its_own_submodule_is_no_cycle(tmp_path: Path) -> None:
    _plant(tmp_path, {
        # Celery's pattern: the package imports its app module, which imports a sibling
        "conf/__init__.py": "from conf.app import app\n",
        "conf/app.py": "from conf import helpers\napp = helpers.make()\n",
        "conf/helpers.py": "def make():\n    return object()\n",
        # a submodule reaching back for a name the package's __init__ defines is a real cycle
        "loop/__init__.py": "from loop.part import VALUE\nSETTING = 1\n",
        "loop/part.py": "from loop import SETTING\nVALUE = SETTING\n",
    })
    graph = build_graph(tmp_path, ["conf", "loop"])
    assert [e.target for e in graph["conf.app"]] == ["conf.helpers"]
    assert [[e.source for e in cycle] for cycle in cycles(graph)] == [["loop", "loop.part"]]


def test_forbidden_edges_are_reported(tmp_path: Path) -> None:
    _plant(tmp_path, {
        "low/__init__.py": "",
        "low/store.py": "from low import models\n\ndef f():\n    from high.views import view\n",
        "low/models.py": "",
        "high/__init__.py": "",
        "high/views.py": "from low.store import f\n",
    })
    graph = build_graph(tmp_path, ["low", "high"])
    rules = [
        Rule("low never calls high", ("low",), forbidden=("high",)),
        Rule("the store sees the models alone", ("low.store",), only=("low.models",)),
    ]
    found = [(rule.why, str(edge)) for rule, edge in forbidden_edges(graph, rules)]
    assert found == [
        ("low never calls high", "low.store:4 -> high.views"),
        ("the store sees the models alone", "low.store:4 -> high.views"),
    ]
    assert not forbidden_edges({"high.views": graph["high.views"]}, rules)


def test_an_exempt_module_may_take_an_edge_its_siblings_may_not(tmp_path: Path) -> None:
    _plant(tmp_path, {
        "app/__init__.py": "",
        "app/tasks.py": "from app.worker import run\n",
        "app/services.py": "def f():\n    from app.worker import run\n",
        "app/worker.py": "def run():\n    pass\n",
    })
    graph = build_graph(tmp_path, ["app"])
    rule = Rule("only the tasks load the worker", ("app",), forbidden=("app.worker",),
                exempt=("app.worker", "app.tasks"))
    assert [str(edge) for _, edge in forbidden_edges(graph, [rule])] == ["app.services:2 -> app.worker"]
