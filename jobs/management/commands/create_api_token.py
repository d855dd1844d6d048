"""`manage.py create_api_token USERNAME`: make an API token for a user and print it once.

Tokens are django-rest-knox tokens: only a SHA-512 digest is stored, so the token cannot be
shown again; a user may hold several (one per script or machine). Send it as
`Authorization: Bearer <token>`.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.commands import actor_from_options, add_actor_arguments
from jobs import presenters, selectors, services
from jobs.conf import conf

MAX_DAYS = 3650


class Command(BaseCommand):
    help = (
        "Creates an API token for a user and prints it (once: only its digest is stored). "
        "Use it as `Authorization: Bearer <token>`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", metavar="USERNAME", help="The user the token acts as.")
        lifetime = parser.add_mutually_exclusive_group()
        lifetime.add_argument(
            "--days",
            type=int,
            metavar="N",
            help=f"Days until the token expires (default: JOBS_API_TOKEN_DAYS, now {conf.api_token_days}; "
            "0 there means never).",
        )
        lifetime.add_argument("--no-expiry", action="store_true", help="The token never expires.")
        parser.add_argument(
            "--quiet", action="store_true", help="Print only the token (for scripts), without the explanation."
        )
        add_actor_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        user = selectors.user_find(username=username)
        if user is None:
            raise CommandError(f"USERNAME: no user {username!r}")
        if not user.is_active:
            raise CommandError(f"USERNAME: user {username!r} is inactive; activate it first")
        expiry = self._lifetime(options)
        instance, token = services.api_token_create(user=user, expiry=expiry, by=actor_from_options(options))
        if options["quiet"]:
            self.stdout.write(token)
            return
        until = f"expires {presenters.iso(instance.expiry)}" if instance.expiry else "never expires"
        self.stdout.write(self.style.SUCCESS(f"Created an API token for {username} ({until}):"))
        self.stdout.write(token)
        self.stdout.write("It is shown once: store it now. Send it as `Authorization: Bearer <token>`.")

    def _lifetime(self, options: dict[str, Any]) -> timedelta | None:
        if options["no_expiry"]:
            return None
        days = options["days"]
        if days is None:
            return timedelta(days=conf.api_token_days) if conf.api_token_days else None
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(
                f"--days: must be from 1 to {MAX_DAYS}, got {days} (use --no-expiry for a token that never expires)"
            )
        return timedelta(days=days)
