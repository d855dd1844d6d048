"""/healthz and /readyz: what a load balancer or an orchestrator asks a web process.

- /healthz: the process answers (no database, no Redis): 200 {"status": "ok"}. A liveness
  probe: when it fails, restart the process.
- /readyz: the process can serve: the database answers, Redis answers, and every migration
  is applied. 200 {"status": "ready", "checks": {...}}, else 503 with {"status":
  "unavailable", "failed": ["redis", ...], "checks": {...}}: a readiness probe, which takes the
  process out of the pool until it passes again. Each check is cheap: one `SELECT 1`, one
  PING, and the migration plan only until it has been found empty once (migrations are not
  unapplied under a running process).

Neither asks for authentication, and neither says more than which check failed and the
class of the error (the details, which may name hosts, go to the log).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from telemetry import redis_client

logger = logging.getLogger("conveyor.health")

_ALLOWED_METHODS = ("GET", "HEAD")
_migrations_applied = False


def _database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis() -> None:
    redis_client.client().ping()


class MigrationsPending(Exception):
    pass


def _migrations() -> None:
    global _migrations_applied
    if _migrations_applied:
        return
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise MigrationsPending(f"{len(plan)} migration(s) not applied, the first {plan[0][0].app_label}."
                                f"{plan[0][0].name}")
    _migrations_applied = True


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "redis": _redis, "migrations": _migrations}


def forget_migrations_applied() -> None:
    """Check the migrations again at the next /readyz (tests)."""
    global _migrations_applied
    _migrations_applied = False


def _method_not_allowed(request: HttpRequest) -> HttpResponse | None:
    if request.method in _ALLOWED_METHODS:
        return None
    response = JsonResponse({"error": f"method {request.method} is not allowed here; use GET or HEAD."}, status=405)
    response["Allow"] = ", ".join(_ALLOWED_METHODS)
    return response


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


# csrf_exempt: they change nothing, and a POST must get the 405 below, not the CSRF failure page
@csrf_exempt
def healthz(request: HttpRequest) -> HttpResponse:
    return _no_store(_method_not_allowed(request) or JsonResponse({"status": "ok"}))


@csrf_exempt
def readyz(request: HttpRequest) -> HttpResponse:
    refused = _method_not_allowed(request)
    if refused is not None:
        return _no_store(refused)
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        if name == "migrations" and checks.get("database") != "ok":
            checks[name] = "unknown: the database did not answer"
            continue
        try:
            check()
        except Exception as exc:
            checks[name] = "pending" if isinstance(exc, MigrationsPending) else f"failed: {type(exc).__name__}"
            logger.warning("readyz: %s check failed: %s", name, " ".join(str(exc).split()))
            if name == "database":
                connections[DEFAULT_DB_ALIAS].close()  # the next request opens a new one
        else:
            checks[name] = "ok"
    failed = [name for name, result in checks.items() if result != "ok"]
    if failed:
        response = JsonResponse({"status": "unavailable", "failed": failed, "checks": checks}, status=503)
        # the line above says why; Django would add an ERROR "Service Unavailable" per probe
        response._has_been_logged = True  # type: ignore[attr-defined]
        return _no_store(response)
    return _no_store(JsonResponse({"status": "ready", "checks": checks}))
