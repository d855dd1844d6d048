"""`manage.py enqueue_job TYPE --input JSON ...`: create a job from the shell, optionally wait.

Every check a user can fail happens before anything is written, and each one ends in a
CommandError that names the option and the bad value; `jobs.services.job_create` owns the
rules (type, payload size and depth, storable text, priority, delay), this command only
reads the input and translates its errors.

The input comes from `--input JSON`, from standard input (`--input -`), or from a file
(`--input-file PATH`): one command-line argument holds at most 128 KiB on Linux, less than
the 1 MB a job's input may be.
"""
from __future__ import annotations

import json
import math
import re
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from jobs import presenters, selectors, services
from jobs.conf import conf
from jobs.errors import ConveyorError, JobValidationError
from jobs.models import Job
from jobs.states import FINAL_STATUSES, JobStatus
from jobs.validation import MAX_INPUT_DEPTH

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
# What counts against JOBS_MAX_PAYLOAD_BYTES is the input as compact JSON; a file or stdin
# may be indented, so up to this many times that is read before it is refused unparsed.
READ_FACTOR = 16


class Command(BaseCommand):
    help = (
        "Creates a job of a registered TYPE with a JSON input and puts it on its queue. "
        "With --wait, follows the job until it is completed, failed or cancelled and exits "
        "non-zero unless it completed."
    )

    # call_command(..., stdin=StringIO(...)) stands for the standard input of `--input -`
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("type", metavar="TYPE", help="The job type, as registered with @handler (e.g. demo.sleep).")
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--input",
            metavar="JSON",
            help='The job\'s input: a JSON object such as \'{"seconds": 2}\', or - to read it from standard '
            "input. Default: {}.",
        )
        source.add_argument(
            "--input-file",
            metavar="PATH",
            help="Read the job's input from this file (UTF-8 JSON; - for standard input). For inputs over the "
            "128 KiB one command-line argument can hold.",
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
            created = services.job_create(**create_kwargs)
        except JobValidationError as exc:
            raise CommandError(option_error(exc, options)) from None
        job, deduplicated = created.job, created.deduplicated
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
            raise CommandError(option_error(exc, options)) from None
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
        option, raw = read_input(options)
        kwargs: dict[str, Any] = {
            "type": options["type"],
            "input": parse_input(raw, option=option),
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


def option_error(exc: JobValidationError, options: dict[str, Any]) -> str:
    """A service's validation error re-worded with the option the user typed (the input's
    own option: --input or --input-file)."""
    names = {**_OPTION_FOR_FIELD, "input": input_option(options)}
    item = re.match(r"inputs\[\d+\]\.", exc.field)
    if item is not None:  # --count gives every job the same input: which job's is beside the point
        exc = JobValidationError(exc.field[item.end():], exc.detail)
    return presenters.option_error(exc, names)


def input_option(options: dict[str, Any]) -> str:
    return "--input-file" if options.get("input_file") is not None else "--input"


def read_input(options: dict[str, Any]) -> tuple[str, str]:
    """(the option that gave the input, its JSON text): --input's text, standard input for
    `--input -` or `--input-file -`, else the file's text; CommandError when it cannot be read."""
    option = input_option(options)
    path = options.get("input_file")
    if path is None and options.get("input") != "-":
        return option, "{}" if options.get("input") is None else options["input"]
    limit = conf.max_payload_bytes * READ_FACTOR
    if path is None or path == "-":
        stream = options.get("stdin") or sys.stdin
        source = "standard input"
        try:
            data = getattr(stream, "buffer", stream).read(limit + 1)
        except OSError as exc:
            raise CommandError(f"{option}: cannot read standard input: {exc.strerror or exc}") from None
    else:
        source = repr(path)
        try:
            with open(path, "rb") as file:
                data = file.read(limit + 1)
        except FileNotFoundError:
            raise CommandError(f"{option}: no such file {path!r}") from None
        except IsADirectoryError:
            raise CommandError(f"{option}: {path!r} is a directory, not a file") from None
        except PermissionError:
            raise CommandError(f"{option}: cannot read {path!r}: permission denied") from None
        except OSError as exc:
            raise CommandError(f"{option}: cannot read {path!r}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise CommandError(
            f"{option}: {source} holds more than {limit} bytes; a job's input is at most "
            f"{conf.max_payload_bytes} bytes as compact JSON (JOBS_MAX_PAYLOAD_BYTES)"
        )
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")  # a byte-order mark, as some editors write, is no error
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{option}: {source} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                f"({exc.reason})"
            ) from None
    if not data.strip():
        raise CommandError(f'{option}: {source} is empty; give a JSON object such as \'{{"seconds": 1}}\'')
    return option, data


def parse_input(raw: str, option: str = "--input") -> dict[str, Any]:
    """The input as a dict; CommandError saying where the JSON broke, or what it was instead."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        start = max(0, exc.pos - 15)
        near = raw[start : exc.pos + 15]
        raise CommandError(
            f"{option} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            f"(character {exc.pos + 1}), near {near!r}"
        ) from None
    except ValueError as exc:
        raise CommandError(f"{option} is not valid JSON: {exc}") from None
    except RecursionError:
        # json recurses once per level: it gave up far beyond the depth a job's input may have
        raise CommandError(f"{option}: is nested more than {MAX_INPUT_DEPTH} levels deep") from None
    if not isinstance(value, dict):
        kind = "null" if value is None else _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
        raise CommandError(f'{option} must be a JSON object such as \'{{"seconds": 1}}\', got {kind}')
    return value


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity, which are not JSON and which the job store refuses
    raise ValueError(f"{name} is not a JSON value")


def parse_delay(delay: float | None) -> float | None:
    """--delay as given, once it is a number of seconds >= 0; how far ahead it may go is
    job_create's rule (jobs.validation.MAX_DELAY), as for every other path."""
    if delay is not None and (not math.isfinite(delay) or delay < 0):
        raise CommandError(f"--delay: must be a number of seconds >= 0, got {delay}")
    return delay
