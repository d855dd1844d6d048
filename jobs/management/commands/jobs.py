"""`manage.py jobs list|show|cancel|retry|pause|resume|pauses|stats`: look at and act on jobs from the shell.

Reads go through `jobs.selectors`, cancel and retry through `jobs.services`; every platform
error (unknown or malformed id, a transition the state table forbids) becomes a CommandError
carrying the service's own message, which names the job and its current status.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.commands import actor_from_options, add_actor_arguments
from jobs import presenters, selectors, services
from jobs.errors import ConveyorError, JobValidationError
from jobs.models import PauseKind
from jobs.states import JobStatus

_OPTION_FOR_FIELD = {"status": "--status", "limit": "--limit", "id": "ID"}


class Command(BaseCommand):
    help = (
        "Lists, shows, cancels and retries jobs, and counts them by status. "
        "Run `manage.py jobs ACTION --help` for the options of each action."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

        listing = actions.add_parser("list", help="List jobs, newest first.", description="List jobs, newest first.")
        listing.add_argument(
            "--status",
            action="append",
            metavar="STATUS",
            help="Only jobs in this status (queued, running, completed, failed, cancelled; the aliases "
            "pending, processing, finished and error work too, in any case). Repeat for several.",
        )
        listing.add_argument("--type", action="append", metavar="TYPE", help="Only jobs of this type. Repeatable.")
        listing.add_argument(
            "--limit",
            type=int,
            default=20,
            metavar="N",
            help=f"Show at most N jobs (1-{selectors.MAX_LIST_LIMIT}). Default: 20.",
        )
        listing.add_argument("--json", action="store_true", help="Print {total, jobs: [...]} as one JSON object.")

        show = actions.add_parser(
            "show", help="Show one job and its attempts.", description="Show one job and its attempts."
        )
        show.add_argument("id", metavar="ID", help="The job's id (a UUID).")
        show.add_argument(
            "--json", action="store_true", help="Print the job as JSON, its attempts listed under attemptHistory."
        )

        cancel = actions.add_parser(
            "cancel",
            help="Cancel a queued job, or ask a running one to stop.",
            description="Cancel a queued job now; a running job stops at its next progress report.",
        )
        cancel.add_argument("id", metavar="ID", help="The job's id (a UUID).")
        add_actor_arguments(cancel)

        retry = actions.add_parser(
            "retry",
            help="Queue a failed or cancelled job again.",
            description="Queue a failed or cancelled job again, with a fresh budget of attempts.",
        )
        retry.add_argument("id", metavar="ID", help="The job's id (a UUID).")
        add_actor_arguments(retry)

        pause = actions.add_parser(
            "pause", help="Pause a queue or a job type.",
            description="No job of the queue or type starts until it is resumed (or until --until); queued jobs "
                        "wait without spending an attempt, running ones finish. Every worker obeys it at its next "
                        "delivery.")
        pause.add_argument("kind", choices=PauseKind.values, help="What to pause: a queue or a job type.")
        pause.add_argument("name", metavar="NAME", help="The queue's or the job type's name.")
        pause.add_argument("--until", metavar="WHEN", help="When the pause ends by itself: an ISO 8601 date and time "
                                                           "(with its offset), or a number of minutes from now.")
        add_actor_arguments(pause)

        resume = actions.add_parser("resume", help="Resume a paused queue or job type.",
                                    description="Resume a paused queue or job type; its waiting jobs are published.")
        resume.add_argument("kind", choices=PauseKind.values, help="What to resume: a queue or a job type.")
        resume.add_argument("name", metavar="NAME", help="The queue's or the job type's name.")
        add_actor_arguments(resume)

        actions.add_parser("pauses", help="List the pauses in force.", description="List the pauses in force.")

        stats = actions.add_parser("stats", help="Count jobs by status.", description="Count jobs by status.")
        stats.add_argument("--project", metavar="ID", help="Only jobs of this project.")
        stats.add_argument("--org", metavar="SLUG-or-ID", help="Only jobs of this organization (slug or id).")
        stats.add_argument("--json", action="store_true", help="Print the counts as one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = getattr(self, f"do_{options['action']}")
        try:
            action(options)
        except JobValidationError as exc:
            raise CommandError(presenters.option_error(exc, _OPTION_FOR_FIELD)) from None
        except ConveyorError as exc:
            raise CommandError(str(exc)) from None

    # --- actions ----------------------------------------------------------------------------

    def do_list(self, options: dict[str, Any]) -> None:
        page = selectors.job_list(statuses=options["status"], types=options["type"], limit=options["limit"])
        if options["json"]:
            self.write_json({"total": page.total, "jobs": [presenters.job_to_dict(job) for job in page]})
            return
        if not page.items:
            self.stdout.write("No jobs match.")
            return
        self.stdout.write(presenters.format_table(presenters.JOB_LIST_HEADERS, map(presenters.job_list_row, page)))
        self.stdout.write(f"{len(page)} of {page.total} job(s), newest first.")

    def do_show(self, options: dict[str, Any]) -> None:
        job = selectors.job_get(job_id=options["id"])
        attempts = selectors.job_attempts(job=job)
        if options["json"]:
            data = presenters.job_to_dict(job)
            # "attempts" is the count (as everywhere a job is shown); the rows get their own key
            data["attemptHistory"] = [presenters.attempt_to_dict(attempt) for attempt in attempts]
            self.write_json(data)
            return
        for line in presenters.job_detail_lines(job):
            self.stdout.write(line)
        self.stdout.write("")
        if not attempts:
            self.stdout.write("No attempts yet.")
            return
        self.stdout.write("Attempts:")
        self.stdout.write(presenters.format_table(presenters.ATTEMPT_HEADERS, map(presenters.attempt_row, attempts)))

    def do_cancel(self, options: dict[str, Any]) -> None:
        # job_get first: a malformed id gets its own message instead of a database error
        job = services.job_cancel(job_id=selectors.job_get(job_id=options["id"]).pk, by=actor_from_options(options))
        if job.status == JobStatus.CANCELLED:
            self.stdout.write(self.style.SUCCESS(f"Cancelled job {job.pk}."))
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Asked running job {job.pk} to stop; it ends cancelled at its next progress report."
                )
            )

    def do_retry(self, options: dict[str, Any]) -> None:
        job = services.job_retry(job_id=selectors.job_get(job_id=options["id"]).pk, by=actor_from_options(options))
        self.stdout.write(
            self.style.SUCCESS(
                f"Job {job.pk} is queued again (attempt {job.attempts + 1} of at most {job.max_attempts})."
            )
        )

    def do_pause(self, options: dict[str, Any]) -> None:
        until = _when(options["until"]) if options["until"] else None
        by = actor_from_options(options)
        pause = services.pause_set(kind=options["kind"], name=options["name"], until=until, by=by)
        ends = f" until {pause.until.isoformat()}" if pause.until else " until resumed"
        self.stdout.write(self.style.SUCCESS(f"Paused {pause.get_kind_display()} {pause.name}{ends}."))

    def do_resume(self, options: dict[str, Any]) -> None:
        published = services.pause_lift(kind=options["kind"], name=options["name"], by=actor_from_options(options))
        self.stdout.write(self.style.SUCCESS(
            f"Resumed {options['kind']} {options['name']}; {published} waiting job(s) published."))

    def do_pauses(self, options: dict[str, Any]) -> None:
        pauses = selectors.active_pauses()
        if not pauses:
            self.stdout.write("Nothing is paused.")
            return
        rows = [(p.kind, p.name, p.paused_by_name, presenters.iso(p.paused_at), presenters.iso(p.until) or "resumed",
                 p.reason) for p in pauses]
        self.stdout.write(presenters.format_table(("KIND", "NAME", "BY", "SINCE", "UNTIL", "REASON"), rows))

    def do_stats(self, options: dict[str, Any]) -> None:
        filters: dict[str, Any] = {}
        if options["project"] is not None:
            filters["project"] = selectors.project_find(project_id=options["project"])
            if filters["project"] is None:
                raise CommandError(f"--project: no project with id {options['project']!r}")
        if options["org"] is not None:
            filters["organization"] = selectors.organization_find(ref=options["org"])
            if filters["organization"] is None:
                raise CommandError(f"--org: no organization with slug or id {options['org']!r}")
        stats = selectors.job_stats(**filters)
        if options["json"]:
            self.write_json(stats)
            return
        rows = [(status, stats[status]) for status in JobStatus.values] + [("total", stats["total"])]
        self.stdout.write(presenters.format_table(("STATUS", "JOBS"), rows))

    def write_json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data))


def _when(text: str) -> datetime:
    """--until: minutes from now, or an ISO 8601 moment with its offset."""
    if text.strip().isdigit():
        return timezone.now() + timedelta(minutes=int(text))
    moment = parse_datetime(text.strip())
    if moment is None or timezone.is_naive(moment):
        raise CommandError(f"--until: {text!r} is neither a number of minutes nor an ISO 8601 date and time with "
                           "its offset (such as 2026-12-04T06:00:00+00:00)")
    return moment
