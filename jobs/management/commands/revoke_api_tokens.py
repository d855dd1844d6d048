"""`manage.py revoke_api_tokens USERNAME [--key PREFIX]`: revoke a user's API tokens."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.commands import actor_from_options, add_actor_arguments
from jobs import selectors, services


class Command(BaseCommand):
    help = ("Revokes a user's API tokens (all of them, or the one whose key starts with --key); recorded in the "
            "audit log.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", metavar="USERNAME", help="The user whose tokens are revoked.")
        parser.add_argument("--key", default="", metavar="PREFIX",
                            help="Only the token whose key (its first characters, as the admin lists them) starts "
                                 "with PREFIX.")
        add_actor_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        user = selectors.user_find(username=options["username"])
        if user is None:
            raise CommandError(f"USERNAME: no user {options['username']!r}")
        revoked = services.api_tokens_revoke(user=user, token_key=options["key"], by=actor_from_options(options))
        if not revoked:
            which = f" whose key starts with {options['key']!r}" if options["key"] else ""
            raise CommandError(f"user {options['username']!r} has no API token{which}")
        self.stdout.write(self.style.SUCCESS(f"Revoked {revoked} API token(s) of {options['username']}."))
