"""`manage.py seed_jobs --count N`: fill the jobs table fast, for benchmarks and demos.

Rows go in with COPY on PostgreSQL (about a million a minute) and in large bulk INSERTs
elsewhere; they bypass the services on purpose (nothing is published, no transition runs),
so never point this at a database whose jobs matter.
"""
from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from jobs.error_groups import error_group
from jobs.models import Job, Membership, Organization, Project
from jobs.states import JobStatus
from jobs.storage import queries

_STATUSES = [JobStatus.COMPLETED] * 80 + [JobStatus.FAILED] * 8 + [JobStatus.CANCELLED] * 4 + \
    [JobStatus.QUEUED] * 6 + [JobStatus.RUNNING] * 2
_TYPES = ["demo.sleep", "demo.flaky", "process-attachment", "consolidate-dossier", "sync-updated-dossiers"]
# the failures a real table shows: a few kinds of error, each with values that vary per job
_ERRORS = [
    lambda rng: "RuntimeError: synthetic failure",
    lambda rng: f"TimeoutError: upstream 10.0.0.{rng.randint(1, 254)} took {rng.randint(30, 90)} s",
    lambda rng: f"KeyError: 'customer_{rng.randint(1, 5000)}'",
    lambda rng: f"ValueError: row {rng.randint(1, 100_000)}: bad date",
]
# the columns each row gives, in order (the others take their defaults); also Job's keywords
_COLUMNS = ["id", "type", "queue", "status", "progress", "progress_message", "input", "error", "error_traceback",
            "error_group", "priority", "attempts", "max_attempts", "rescues", "token", "created_by_id",
            "organization_id", "project_id", "worker", "queued_at", "started_at", "completed_at", "created_at",
            "updated_at", "actual_duration"]


class Command(BaseCommand):
    help = "Inserts COUNT synthetic jobs spread over users, organizations, projects, types and 90 days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, required=True, metavar="N", help="How many jobs to insert.")
        parser.add_argument("--users", type=int, default=50, metavar="N", help="Users to spread them over (50).")
        parser.add_argument("--orgs", type=int, default=10, metavar="N", help="Organizations (10).")
        parser.add_argument("--projects", type=int, default=40, metavar="N", help="Projects (40).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed, for repeatable data (1).")

    def handle(self, *args: Any, **options: Any) -> None:
        count = options["count"]
        if count < 1:
            raise CommandError(f"--count: must be at least 1, got {count}")
        for name in ("users", "orgs", "projects"):
            if options[name] < 1:
                raise CommandError(f"--{name}: must be at least 1, got {options[name]}")
        rng = random.Random(options["seed"])
        users, orgs, projects = self.tenancy(options["users"], options["orgs"], options["projects"])
        started = time.perf_counter()
        rows = (self.row(rng, users, orgs, projects) for _ in range(count))
        if connection.vendor == "postgresql":
            self.copy(rows)
        else:
            with transaction.atomic():
                batch: list[Job] = []
                for values in rows:
                    batch.append(Job(**dict(zip(_COLUMNS, values))))
                    if len(batch) == 5000:
                        Job.objects.bulk_create(batch)
                        batch.clear()
                Job.objects.bulk_create(batch)
        with connection.cursor() as cursor:
            cursor.execute(self.maintenance_statement())
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"Inserted {count} jobs in {elapsed:.1f}s ({count / elapsed:,.0f}/s)."))

    @staticmethod
    def maintenance_statement() -> str:
        """What a live table would have had from autovacuum by the time it held these rows:
        fresh planner statistics (ANALYZE) and, on PostgreSQL, the visibility map (VACUUM), so
        that index-only scans (the API's counts and stats) skip the table as they would in
        production rather than visiting every freshly copied row. VACUUM cannot run inside a
        transaction (a test's): ANALYZE alone there."""
        if connection.vendor != "postgresql":
            return "ANALYZE"
        return queries.ANALYZE_JOBS if connection.in_atomic_block else queries.VACUUM_ANALYZE_JOBS

    def tenancy(self, n_users: int, n_orgs: int, n_projects: int) -> tuple[list[int], list[int], list[tuple[int, int]]]:
        User = get_user_model()
        orgs = [Organization.objects.get_or_create(slug=f"seed-org-{i}", defaults={"name": f"Seed org {i}"})[0]
                for i in range(n_orgs)]
        users = []
        for i in range(n_users):
            user, _ = User.objects.get_or_create(username=f"seed-user-{i}")
            Membership.objects.get_or_create(user=user, organization=orgs[i % n_orgs])
            users.append(user.pk)
        projects = [(Project.objects.get_or_create(name=f"Seed project {i}", organization=orgs[i % n_orgs])[0].pk,
                     orgs[i % n_orgs].pk) for i in range(n_projects)]
        return users, [o.pk for o in orgs], projects

    def row(self, rng: random.Random, users: list[int], orgs: list[int], projects: list[tuple[int, int]]) -> tuple:
        now = timezone.now()
        created = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        status = rng.choice(_STATUSES)
        started = created + timedelta(seconds=rng.uniform(0.01, 5)) if status != JobStatus.QUEUED else None
        done = started + timedelta(seconds=rng.uniform(0.1, 120)) if started and status != JobStatus.RUNNING else None
        project: int | None = None
        org: int | None = None
        if rng.random() < 0.7:
            project, org = rng.choice(projects)
        elif rng.random() < 0.5:
            org = rng.choice(orgs)
        failed = status == JobStatus.FAILED
        error = rng.choice(_ERRORS)(rng) if failed else ""
        return (
            uuid.uuid4(), rng.choice(_TYPES), "default", status,
            100 if status == JobStatus.COMPLETED else rng.randint(0, 99),
            "", {"n": rng.randint(1, 10_000), "customer_id": rng.randint(1, 5000)}, error, "", error_group(error),
            rng.randint(1, 10), 1 if not failed else 3, 3, 0, uuid.uuid4(), rng.choice(users), org, project,
            "seed@host" if started else "", created, started, done, created, done or started or created,
            (done - started).total_seconds() if done and started else None,
        )

    def copy(self, rows: Any) -> None:
        from psycopg.types.json import Jsonb  # noqa: PLC0415  (PostgreSQL only: SQLite has no psycopg)

        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no COPY
            with raw.copy(queries.copy_into_jobs(_COLUMNS)) as copy:
                for values in rows:
                    values = list(values)
                    values[6] = Jsonb(values[6])
                    copy.write_row(values)
