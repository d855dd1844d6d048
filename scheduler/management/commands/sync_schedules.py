"""`manage.py sync_schedules [--dry-run]`: make django-celery-beat match scheduler/system.py.

Beat runs the same sync when it starts; this command is for a deploy step, or to see with
`--dry-run` what a beat restart would change. User schedules are never read or written.
"""
from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduler.errors import ScheduleConfigurationError
from scheduler.services import schedules_sync


class Command(BaseCommand):
    help = (
        "Sync the system schedules declared in scheduler/system.py into django-celery-beat: add new "
        "ones, update changed ones, remove the ones that left the list. Users' schedules are untouched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true",
                            help="Report what would change, and change nothing.")
        parser.add_argument("--json", action="store_true",
                            help="Print {created, updated, removed, unchanged, dryRun} as one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = schedules_sync(dry_run=options["dry_run"])
        except ScheduleConfigurationError as exc:
            raise CommandError("the system schedules are invalid, nothing was changed:\n  "
                               + "\n  ".join(exc.problems)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, sort_keys=True))
            return
        verb = "Would" if report.dry_run else ""
        for name in report.created:
            self.stdout.write(f"{verb + ' create' if verb else 'Created'} {name}")
        for name, fields in report.updated.items():
            self.stdout.write(f"{verb + ' update' if verb else 'Updated'} {name}: {', '.join(fields)}")
        for name in report.removed:
            self.stdout.write(f"{verb + ' remove' if verb else 'Removed'} {name}")
        summary = (f"{len(report.created)} created, {len(report.updated)} updated, {len(report.removed)} removed, "
                   f"{len(report.unchanged)} unchanged")
        if report.dry_run:
            self.stdout.write(f"Dry run, nothing was written: {summary}.")
        elif report.changed:
            self.stdout.write(self.style.SUCCESS(f"System schedules synced: {summary}."))
        else:
            self.stdout.write(f"Nothing to change: {summary}.")
