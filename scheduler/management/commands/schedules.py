"""`manage.py schedules list|run|pause|resume`: look at and act on schedules from the shell.

Reads go through `scheduler.selectors`, actions through `scheduler.services`; every platform
error (an unknown name, a run refused by the overlap policy, a quota) becomes a CommandError
carrying the service's own message.
"""
from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.commands import actor_from_options, add_actor_arguments
from jobs.errors import ConveyorError
from jobs.presenters import format_table
from scheduler import presenters, selectors, services
from scheduler.models import ScheduleKind

_NAME_HELP = "A system schedule's name (as listed, e.g. jobs:cleanup) or any schedule's numeric id."


class Command(BaseCommand):
    help = (
        "Lists schedules (system and users'), runs one now, pauses or resumes one. "
        "Run `manage.py schedules ACTION --help` for the options of each action."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

        listing = actions.add_parser("list", help="List schedules, system ones first.",
                                     description="List schedules, system ones first, then users' by name.")
        listing.add_argument("--kind", choices=ScheduleKind.values,
                             help="Only system schedules, or only users' schedules.")
        listing.add_argument("--json", action="store_true",
                             help="Print {schedules: [...]} as one JSON object, each with its next five runs.")

        run = actions.add_parser("run", help="Run a schedule now, outside its timetable.",
                                 description="Start one run now; its timetable is unchanged. Refused while a "
                                             "previous run is queued or running if its overlap policy is 'skip'.")
        run.add_argument("name", metavar="NAME", help=_NAME_HELP)
        run.add_argument("--json", action="store_true", help="Print what was started as one JSON object.")
        add_actor_arguments(run)

        pause = actions.add_parser("pause", help="Stop a schedule firing until resumed.",
                                   description="Stop a schedule firing until resumed (a system schedule stays "
                                               "paused across syncs and beat restarts).")
        pause.add_argument("name", metavar="NAME", help=_NAME_HELP)
        add_actor_arguments(pause)

        resume = actions.add_parser("resume", help="Let a paused schedule fire again.",
                                    description="Let a paused schedule fire again from its next tick; the ticks "
                                                "that passed while it was paused are not caught up.")
        resume.add_argument("name", metavar="NAME", help=_NAME_HELP)
        add_actor_arguments(resume)

    def handle(self, *args: Any, **options: Any) -> None:
        action = getattr(self, f"do_{options['action']}")
        try:
            action(options)
        except ConveyorError as exc:
            raise CommandError(str(exc)) from None

    def do_list(self, options: dict[str, Any]) -> None:
        schedules = list(selectors.schedule_queryset(kind=options["kind"]).order_by("-kind", "name", "pk"))
        if options["json"]:
            self.write_json({"schedules": [
                presenters.schedule_to_dict(s, upcoming=selectors.schedule_upcoming(schedule=s)) for s in schedules
            ]})
            return
        if not schedules:
            self.stdout.write("No schedules. (System schedules appear once beat has started, or after "
                              "`manage.py sync_schedules`.)")
            return
        self.stdout.write(format_table(presenters.SCHEDULE_LIST_HEADERS, map(presenters.schedule_list_row, schedules)))
        self.stdout.write(f"{len(schedules)} schedule(s).")

    def do_run(self, options: dict[str, Any]) -> None:
        schedule = selectors.schedule_find(ref=options["name"])
        result = services.schedule_run_now(schedule=schedule, by=actor_from_options(options))
        if result.outcome not in ("created", "sent"):
            raise CommandError(f"schedule {schedule.name!r} was not run: {result.reason}")
        started = f"job {result.job.pk}" if result.job is not None else f"task {result.task_id}"
        if options["json"]:
            self.write_json({"schedule": schedule.name, "scheduleId": schedule.pk, "outcome": result.outcome,
                             "jobId": str(result.job.pk) if result.job is not None else None,
                             "taskId": result.task_id})
            return
        self.stdout.write(self.style.SUCCESS(f"Schedule {schedule.name!r} ({schedule.pk}) started {started}."))

    def do_pause(self, options: dict[str, Any]) -> None:
        schedule = services.schedule_pause(schedule=selectors.schedule_find(ref=options["name"]),
                                           by=actor_from_options(options))
        self.stdout.write(self.style.SUCCESS(f"Paused schedule {schedule.name!r} ({schedule.pk})."))

    def do_resume(self, options: dict[str, Any]) -> None:
        schedule = services.schedule_resume(schedule=selectors.schedule_find(ref=options["name"]),
                                            by=actor_from_options(options))
        nxt = schedule.next_run_at.isoformat() if schedule.next_run_at else "as beat sends it"
        note = "" if schedule.enabled else " It stays disabled by its definition."
        self.stdout.write(self.style.SUCCESS(f"Resumed schedule {schedule.name!r} ({schedule.pk}); next run "
                                             f"{nxt}.{note}"))

    def write_json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, indent=2, sort_keys=True))
