"""The bench's own database and Redis database: prepared once, emptied before every run.

They are the bench's own (`--db-name`, `--redis-db`, or a temporary folder with --embedded)
because every run starts by emptying them.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

from bench import limited
from bench.machine import cpu_seconds, postgres_cpu_seconds, server_pids

BASE_DIR = Path(__file__).resolve().parent.parent


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def with_redis_db(url: str, db: int) -> str:
    if url.startswith(("redis+socket://", "unix://")):
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def prepare_environment(args: argparse.Namespace, scratch: Path) -> tuple[dict[str, str], Any]:
    """The environment of the bench process and its workers; the embedded Redis, if any."""
    env = dict(os.environ)
    embedded_redis = None
    if args.embedded:
        from config.embedded_redis import EmbeddedRedis

        embedded_redis = EmbeddedRedis(socket_path=scratch / "redis.sock", workdir=scratch).start()
        env["REDIS_URL"] = embedded_redis.url
        env["DATABASE_URL"] = f"sqlite:///{scratch / 'bench.sqlite3'}"
    else:
        if not env.get("DATABASE_URL") or not env.get("REDIS_URL"):
            sys.exit("make bench needs DATABASE_URL and REDIS_URL (or --embedded)")
        env["DATABASE_URL"] = with_database(env["DATABASE_URL"], args.db_name)
        env["REDIS_URL"] = with_redis_db(env["REDIS_URL"], args.redis_db)
        create_postgres_database(os.environ["DATABASE_URL"], args.db_name)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "JOBS_HANDLER_MODULES": "handlers.demo,handlers.dossiers,handlers.maintenance,bench.handlers",
        "LOG_LEVEL": "WARNING",
        "BENCH_BROKER_URL": env["REDIS_URL"],
        # the workers' liveness files go with the run, not into the project's var/
        "JOBS_LIVENESS_DIR": str(scratch / "liveness"),
        "PYTHONPATH": str(BASE_DIR),
        "DEBUG": "0",
        **limited.environment(args),
    })
    return env, embedded_redis


def create_postgres_database(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


class Bench:
    """What every run shares: the options, the workers' environment, and the bench's Redis and
    database, which each run empties first so that it measures only its own jobs."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], scratch: Path) -> None:
        self.args = args
        self.env = env
        self.scratch = scratch
        from telemetry.redis_client import redis_client_url

        self.redis = redis.Redis.from_url(redis_client_url(env["REDIS_URL"]))
        self.redis_pids = server_pids("redis", env["REDIS_URL"])

    def reset(self) -> None:
        from django.db import connection
        from django_celery_results.models import TaskResult

        from jobs.models import Job, JobAttempt

        self.redis.flushdb()
        if connection.vendor == "postgresql":
            # TRUNCATE, not DELETE: a million deleted rows (the API part's) would leave their
            # dead entries in every index and autovacuum's work in the next run's figures
            tables = ", ".join(m._meta.db_table for m in (JobAttempt, Job, TaskResult))
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {tables} CASCADE")
            return
        Job.objects.all().delete()
        TaskResult.objects.all().delete()

    def publishes(self) -> int:
        """Redis PUBLISH commands the server has run (Celery's events are PUBLISHes); the
        whole server's count, so a Redis shared with other work adds its own."""
        return int(self.redis.info("commandstats").get("cmdstat_publish", {}).get("calls", 0))

    def server_cpu(self) -> tuple[float, float]:
        return cpu_seconds(self.redis_pids), 0.0 if self.args.embedded else postgres_cpu_seconds()
