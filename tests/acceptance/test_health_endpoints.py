"""/healthz and /readyz served by a real web process, with the database up and with it
unreachable; and the web health check of deploy/docker-compose.yml run against them."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from config.embedded_redis import free_port
from tests.processes import BASE_DIR, Process, ProcessGroup, child_environment, wait_for

# Django's own WSGI server (runserver's, without its start-up checks, which need the database)
SERVE = """
import sys
from django.core.servers.basehttp import run
from django.core.wsgi import get_wsgi_application
run("127.0.0.1", int(sys.argv[1]), get_wsgi_application(), threading=True)
"""


def web(processes: ProcessGroup, **env: str) -> str:
    port = free_port()
    process = Process(f"web-{port}", [sys.executable, "-c", SERVE, str(port)], child_environment(**env),
                      processes.log_dir)
    processes.processes.append(process)
    process.start()
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: get(base + "/healthz")[0] == 200, timeout=60, message="the web process to answer")
    return base


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())
    except OSError:
        return 0, {}


def compose_web_check(base: str) -> subprocess.CompletedProcess[str]:
    """The `web` service's health check in deploy/docker-compose.yml, aimed at `base`."""
    compose = yaml.safe_load((BASE_DIR / "deploy" / "docker-compose.yml").read_text())
    test = compose["services"]["web"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    script = test[3].replace("http://127.0.0.1:8000", base)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_a_ready_web_process_answers_both(processes: ProcessGroup, tmp_path: Path) -> None:
    base = web(processes)
    assert get(base + "/healthz") == (200, {"status": "ok"})
    assert get(base + "/readyz") == (200, {"status": "ready",
                                           "checks": {"database": "ok", "redis": "ok", "migrations": "ok"}})
    assert compose_web_check(base).returncode == 0


def test_without_its_database_it_is_alive_but_not_ready(processes: ProcessGroup) -> None:
    nowhere = f"postgres://conveyor:db-password@127.0.0.1:{free_port()}/conveyor"
    base = web(processes, DATABASE_URL=nowhere)
    assert get(base + "/healthz") == (200, {"status": "ok"})
    status, body = get(base + "/readyz")
    assert status == 503 and body["failed"] == ["database", "migrations"]
    assert body["checks"]["redis"] == "ok" and body["checks"]["database"].startswith("failed: ")
    assert "db-password" not in json.dumps(body)
    check = compose_web_check(base)
    assert check.returncode != 0 and '"failed": ["database", "migrations"]' in check.stderr
