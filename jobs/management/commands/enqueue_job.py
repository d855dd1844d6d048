"""`manage.py enqueue_job TYPE --input JSON ...`: create a job from the shell, optionally wait.

Every check a user can fail happens before anything is written, and each one ends in a
CommandError that names the option and the bad value; `jobs.services.job_create` owns the
rules (type, payload size, priority, delay), this command only translates its errors.
"""
from __future__ import annotations

import json
import math
import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from jobs import presenters, selectors, services
from jobs.errors import ConveyorError, JobValidationError
from jobs.models import Job
from jobs.states import FINAL_STATUSES, JobStatus

# job_create names fields as the API does; a shell user knows them as options
_OPTION_FOR_FIELD = {
    "type": "TYPE",
    "input": "--input",
    "priority": "--priority",
    "delay": "--delay",
    "runAt": "--delay",
    "dedupKey": "--dedup-key",
    "projectId": "--project",
}
_JSON_TYPE_NAMES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
POLL_INTERVAL = 0.2
DEFAULT_WAIT_TIMEOUT = 60.0


class Command(BaseCommand):
    help = (
        "Creates a job of a registered TYPE with a JSON input and puts it on its queue. "
        "With --wait, follows the job until it is completed, failed or cancelled and exits "
        "non-zero unless it completed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("type", metavar="TYPE", help="The job type, as registered with @handler (e.g. demo.sleep).")
        parser.add_argument(
            "--input",
            default="{}",
            metavar="JSON",
            help='The job\'s input: a JSON object such as \'{"seconds": 2}\'. Default: {}.',
        )
        parser.add_argument(
            "--priority", type=int, metavar="N", help="1 (most urgent) to 10 (least). Default: the type's priority."
        )
        parser.add_argument(
            "--delay", type=float, metavar="SECONDS", help="Do not run the job before this many seconds from now."
        )
        parser.add_argument("--user", metavar="USERNAME", help="Record the job as created by this user.")
        parser.add_argument("--org", metavar="SLUG-or-ID", help="The organization the job belongs to (slug or id).")
        parser.add_argument(
            "--project", metavar="ID", help="The project the job belongs to (its organization is implied)."
        )
        parser.add_argument(
            "--dedup-key",
            metavar="KEY",
            help="At most one queued job holds a key: if one does, it is returned and nothing new is created.",
        )
        parser.add_argument(
            "--wait", action="store_true", help="Wait until the job is completed, failed or cancelled, then print it."
        )
        parser.add_argument(
            "--timeout",
            type=float,
            metavar="SECONDS",
            help="With --wait: give up waiting after this many seconds (the job keeps going). "
            f"Default: {DEFAULT_WAIT_TIMEOUT:g}.",
        )
        parser.add_argument(
            "--count",
            type=int,
            metavar="N",
            help="Create N jobs with this input in one transaction and publish them in one batch "
            "(not with --wait, --delay or --dedup-key).",
        )
        parser.add_argument("--json", action="store_true", help="Print the job as one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["count"] is not None:
            return self.handle_bulk(options)
        create_kwargs = self.parse_request(options)
        try:
            job = services.job_create(**create_kwargs)
        except JobValidationError as exc:
            raise CommandError(presenters.option_error(exc, _OPTION_FOR_FIELD)) from None
        deduplicated = bool(getattr(job, "deduplicated", False))
        if options["wait"]:
            job = self.wait_for_final(job, timeout=options["timeout"] or DEFAULT_WAIT_TIMEOUT)
        self.report(job, as_json=options["json"], deduplicated=deduplicated, waited=options["wait"])
        if options["wait"] and job.status != JobStatus.COMPLETED:
            detail = f": {job.error}" if job.error else ""
            raise CommandError(f"job {job.pk} ended {job.status}{detail}")

    def handle_bulk(self, options: dict[str, Any]) -> None:
        count = options["count"]
        if count < 1:
            raise CommandError(f"--count: must be at least 1, got {count}")
        for option in ("wait", "delay", "dedup_key"):
            if options[option] not in (None, False):
                raise CommandError(f"--count cannot be combined with --{option.replace('_', '-')}")
        kwargs = self.parse_request(options)
        started = time.perf_counter()
        try:
            jobs = services.jobs_create_bulk(
                type=kwargs["type"], inputs=[kwargs["input"]] * count, priority=kwargs["priority"],
                created_by=kwargs.get("created_by"), organization=kwargs.get("organization"),
                project=kwargs.get("project"),
            )
        except JobValidationError as exc:
            raise CommandError(presenters.option_error(exc, _OPTION_FOR_FIELD)) from None
        elapsed = time.perf_counter() - started
        if options["json"]:
            self.stdout.write(json.dumps({"created": len(jobs), "seconds": round(elapsed, 3),
                                          "ids": [str(job.pk) for job in jobs]}))
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Enqueued {len(jobs)} {kwargs['type']} jobs in {elapsed:.2f}s ({len(jobs) / elapsed:.0f}/s)."))

    # --- steps ---------------------------------------------------------------------------

    def parse_request(self, options: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of job_create, or a CommandError naming the bad option.

        Nothing is written here, so a bad option never leaves a job behind.
        """
        if options["timeout"] is not None:
            if not options["wait"]:
                raise CommandError("--timeout only applies with --wait")
            if not math.isfinite(options["timeout"]) or options["timeout"] <= 0:
                raise CommandError(f"--timeout: must be a number of seconds > 0, got {options['timeout']}")
        if options["wait"] and connection.in_atomic_block:
            # the job is published on commit: inside a transaction no worker could ever see it
            raise CommandError("--wait cannot be used inside a database transaction: the job is published on commit")
        kwargs: dict[str, Any] = {
            "type": options["type"],
            "input": parse_input(options["input"]),
            "priority": options["priority"],
            "delay": parse_delay(options["delay"]),
            "dedup_key": options["dedup_key"],
        }
        if options["user"] is not None:
            kwargs["created_by"] = selectors.user_find(username=options["user"])
            if kwargs["created_by"] is None:
                raise CommandError(f"--user: no user named {options['user']!r}")
        if options["org"] is not None:
            kwargs["organization"] = selectors.organization_find(ref=options["org"])
            if kwargs["organization"] is None:
                raise CommandError(f"--org: no organization with slug or id {options['org']!r}")
        if options["project"] is not None:
            kwargs["project"] = selectors.project_find(project_id=options["project"])
            if kwargs["project"] is None:
                raise CommandError(f"--project: no project with id {options['project']!r}")
        return kwargs

    def wait_for_final(self, job: Job, *, timeout: float) -> Job:
        """Poll the row until the job is final; CommandError when the timeout passes first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                job = selectors.job_get(job_id=job.pk)
            except ConveyorError as exc:  # deleted while we waited
                raise CommandError(str(exc)) from None
            if job.status in FINAL_STATUSES:
                return job
            if time.monotonic() >= deadline:
                raise CommandError(
                    f"job {job.pk} is still {job.status} ({job.progress}%) after {timeout:g}s; it goes on "
                    f"without us: follow it with `manage.py jobs show {job.pk}`"
                )
            time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))

    def report(self, job: Job, *, as_json: bool, deduplicated: bool, waited: bool) -> None:
        if as_json:
            data = presenters.job_to_dict(job)
            data["deduplicated"] = deduplicated
            self.stdout.write(json.dumps(data))
            return
        if deduplicated:
            self.stdout.write(
                self.style.WARNING(f"A queued job already holds dedup key {job.dedup_key!r}; nothing new was created:")
            )
        elif waited:
            style = self.style.SUCCESS if job.status == JobStatus.COMPLETED else self.style.ERROR
            self.stdout.write(style(f"Job {job.pk} {job.status}."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Enqueued job {job.pk}."))
        for line in presenters.job_detail_lines(job):
            self.stdout.write(f"  {line}")


def parse_input(raw: str) -> dict[str, Any]:
    """--input as a dict; CommandError saying where the JSON broke, or what it was instead."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        start = max(0, exc.pos - 15)
        near = raw[start : exc.pos + 15]
        raise CommandError(
            f"--input is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            f"(character {exc.pos + 1}), near {near!r}"
        ) from None
    except ValueError as exc:
        raise CommandError(f"--input is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        kind = "null" if value is None else _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
        raise CommandError(f'--input must be a JSON object such as \'{{"seconds": 1}}\', got {kind}')
    return value


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity, which are not JSON and which the job store refuses
    raise ValueError(f"{name} is not a JSON value")


def parse_delay(delay: float | None) -> float | None:
    if delay is None:
        return None
    if not math.isfinite(delay) or delay < 0:
        raise CommandError(f"--delay: must be a number of seconds >= 0, got {delay}")
    try:
        timezone.now() + timedelta(seconds=delay)
    except OverflowError:
        raise CommandError(f"--delay: {delay:g} seconds is beyond any date this system can store") from None
    return delay
