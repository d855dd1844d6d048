"""/healthz and /readyz against the real database and Redis, and with each made to fail for
real: a Redis on a port where nothing listens, a migration recorded as not applied."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client, override_settings

from config.embedded_redis import free_port
from observability import health

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _migrations_checked_again() -> Iterator[None]:
    health.forget_migrations_applied()
    yield
    health.forget_migrations_applied()


def answer(path: str, method: str = "get") -> tuple[int, dict]:
    response = getattr(Client(), method)(path)
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response.status_code, json.loads(response.content)


def test_healthz_answers_without_asking_anything_else() -> None:
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0"):
        assert answer("/healthz") == (200, {"status": "ok"})


def test_readyz_is_ready_when_the_database_redis_and_migrations_are() -> None:
    assert answer("/readyz") == (200, {"status": "ready",
                                       "checks": {"database": "ok", "redis": "ok", "migrations": "ok"}})


def test_readyz_names_redis_when_nothing_answers_there_and_says_no_more() -> None:
    port = free_port()
    with override_settings(CELERY_BROKER_URL=f"redis://:secret-password@127.0.0.1:{port}/0"):
        response = Client().get("/readyz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["status"] == "unavailable" and body["failed"] == ["redis"]
    assert body["checks"]["database"] == "ok" and body["checks"]["migrations"] == "ok"
    assert body["checks"]["redis"].startswith("failed: ")
    assert "secret-password" not in response.content.decode() and str(port) not in response.content.decode()
    assert answer("/readyz")[0] == 200  # Redis reachable again: ready again


def test_readyz_names_the_migrations_while_one_is_not_applied() -> None:
    latest = MigrationRecorder.Migration.objects.filter(app="jobs").order_by("-name").first()
    assert latest is not None
    latest.delete()  # as on a database the new code reached before `migrate`
    status, body = answer("/readyz")
    assert status == 503 and body["failed"] == ["migrations"]
    assert body["checks"] == {"database": "ok", "redis": "ok", "migrations": "pending"}
    MigrationRecorder.Migration.objects.create(app=latest.app, name=latest.name)
    assert answer("/readyz")[0] == 200


def test_readyz_reads_the_migrations_until_they_are_applied_then_no_more() -> None:
    assert answer("/readyz")[0] == 200
    MigrationRecorder.Migration.objects.filter(app="jobs").order_by("-name")[:1].get().delete()
    # found applied once: not read again (they are not unapplied under a running process)
    assert answer("/readyz")[0] == 200
    health.forget_migrations_applied()
    assert answer("/readyz")[0] == 503


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_a_method_other_than_get_or_head_is_refused_with_a_message(path: str) -> None:
    response = Client().post(path, data="{}", content_type="application/json")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert json.loads(response.content) == {"error": "method POST is not allowed here; use GET or HEAD."}
    assert Client().head(path).status_code == 200
