"""What Conveyor's Flower is told: its defaults, its login check, the queues it lists.

Read from the settings and the environment only (nothing of Flower is imported here), so that
the launcher and the unit tests use it cheaply; `config.flower` applies it to Flower.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

# The Tasks tab's columns: Flower's own set plus args and kwargs, where a run_job shows its job
# id (args) and its type (kwargs; `kwargs:job_type=demo.sleep` finds a type's tasks).
TASKS_COLUMNS = "name,uuid,state,args,kwargs,received,runtime,worker"
# Flower also saves its history when it stops; a killed Flower loses at most this much (ms).
STATE_SAVE_INTERVAL_MS = 60_000


def all_queues() -> list[str]:
    """Every queue a job can be published to (`handlers.registry.all_queues`, imported once
    Django is set up): the worker of `make run` consumes them all, and Flower's Broker tab lists
    them all, consumed or not."""
    from handlers.registry import all_queues as registered  # noqa: PLC0415  (needs django.setup() first)

    return registered()


def state_file(var_dir: Path) -> Path:
    """Where Flower keeps its history by default (persistent mode): a folder of its own,
    since its dbm file may come with companions (.db, .dir, .bak)."""
    return var_dir / "flower" / "flower-state"


def default_options(settings: Any, var_dir: Path) -> dict[str, Any]:
    """Flower's options as Conveyor sets them; FLOWER_* variables and the command line win."""
    return {
        "persistent": True,
        "db": str(state_file(var_dir)),
        "state_save_interval": STATE_SAVE_INTERVAL_MS,
        # Flower turns task events on in every worker every 5 s unless told not to: it would
        # undo CELERY_WORKER_SEND_TASK_EVENTS=0, so it follows the setting.
        "enable_events": bool(settings.CELERY_WORKER_SEND_TASK_EVENTS),
        "tasks_columns": TASKS_COLUMNS,
    }


def checked_basic_auth(source: str, value: str) -> str:
    """`value` if it is user:password[,user:password...], else an error naming `source`."""
    for pair in value.split(","):
        user, _, password = pair.partition(":")
        if not user or not password:
            raise ImproperlyConfigured(f"{source} must be user:password[,user:password...]")
    return value


def _option(argv: Sequence[str], name: str) -> str | None:
    """The value of --name=value (or --name-with-dashes=value) on Flower's command line."""
    value = None
    for arg in argv:
        key, equals, given = arg.lstrip("-").partition("=")
        if equals and key.replace("-", "_") == name:
            value = given  # the last one wins, as in Flower
    return value


def require_login(environ: Mapping[str, str], argv: Sequence[str]) -> None:
    """Refuse to start a Flower that anyone could open: every page, /metrics and the API
    would answer without a login."""
    for source, value in (("--basic_auth", _option(argv, "basic_auth")),
                          ("FLOWER_BASIC_AUTH", environ.get("FLOWER_BASIC_AUTH"))):
        if value and value.strip():
            checked_basic_auth(source, value.strip())
            return
    if _option(argv, "auth") or environ.get("FLOWER_AUTH"):
        return  # Flower's own OAuth login
    raise ImproperlyConfigured(
        "Flower needs a login: set FLOWER_BASIC_AUTH=user:password (or --basic_auth=user:password, or Flower's "
        "OAuth with FLOWER_AUTH)"
    )


def state_folder(environ: Mapping[str, str], argv: Sequence[str], default: Path) -> Path:
    """The folder of the history file Flower will use (--db, else FLOWER_DB, else `default`)."""
    return Path(_option(argv, "db") or environ.get("FLOWER_DB") or default).parent
