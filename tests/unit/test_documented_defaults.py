"""The defaults that the README and docs/ give for the JOBS_* settings are the ones the code has.

The code's defaults are read from `config.settings` in a process whose environment holds no
DJANGO_/CELERY_/JOBS_ variable: the test process cannot tell them, since tests/settings.py sets
short timings of its own. No database, no broker.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

# A row of a settings table, "| `JOBS_X` | `5` (...) | ...", or of a plain-text block,
# "JOBS_X     5     ..."; the first number is the default.
NUMBER = r"(-?\d+(?:\.\d+)?)"
TABLE_ROW = re.compile(rf"^\|\s*`?(JOBS_[A-Z0-9_]+)`?\s*\|\s*`?{NUMBER}`?(?=[\s|(])")
PLAIN_ROW = re.compile(rf"^\s*(JOBS_[A-Z0-9_]+)\s{{2,}}{NUMBER}\s")

# What must be found, so that a change of the docs' format cannot make the test vacuous.
MUST_BE_DOCUMENTED = ("JOBS_MAX_PAYLOAD_BYTES", "JOBS_HEARTBEAT_INTERVAL", "JOBS_HEARTBEAT_TIMEOUT",
                      "JOBS_RESCUE_INTERVAL", "JOBS_SWEEP_INTERVAL", "JOBS_SWEEP_UNCLAIMED_AFTER",
                      "JOBS_SWEEP_OVERTAKEN_AFTER", "JOBS_SHUTDOWN_GRACE", "JOBS_DEFAULT_MAX_ATTEMPTS")


def documented_defaults() -> dict[str, list[tuple[str, float]]]:
    """Every numeric JOBS_* default in README.md and docs/, with where it is written."""
    found: dict[str, list[tuple[str, float]]] = {}
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("**/*.md"))]:
        if not path.exists():
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = TABLE_ROW.match(line) or PLAIN_ROW.match(line)
            if match:
                where = f"{path.relative_to(REPO)}:{number}"
                found.setdefault(match.group(1), []).append((where, float(match.group(2))))
    return found


def code_defaults(names: list[str]) -> dict[str, Any]:
    """The values of `names` in config.settings, with no setting given by the environment."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("DJANGO_", "CELERY_", "JOBS_")) and name not in {"DATABASE_URL", "REDIS_URL"}}
    env["PYTHONPATH"] = str(REPO)
    # the settings module alone, without django.setup(): its defaults need no app
    code = ("import importlib, json, sys; settings = importlib.import_module('config.settings');"
            "print(json.dumps({name: getattr(settings, name, None) for name in json.loads(sys.argv[1])}, default=str))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(names)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_documented_default_is_the_codes_default() -> None:
    documented = documented_defaults()
    missing = [name for name in MUST_BE_DOCUMENTED if name not in documented]
    assert not missing, f"no default found in README.md or docs/ for {missing}: has their format changed?"
    actual = code_defaults(sorted(documented))
    wrong = [f"{where}: {name} is documented as {value:g}, the code's default is {actual[name]!r}"
             for name, places in sorted(documented.items()) for where, value in places
             if actual[name] is None or float(actual[name]) != value]
    assert not wrong, "\n".join(wrong)
