"""The options by which a management command says who acts: `--as USERNAME` and `--reason`."""
from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from audit.actors import Actor, Source

MAX_REASON = 1000


def add_actor_arguments(parser: CommandParser) -> None:
    parser.add_argument("--as", dest="as_user", metavar="USERNAME",
                        help="Act as this user: their permissions are checked and the audit log names them. "
                             "Without it the command acts with the shell's full rights, recorded under the "
                             "operating system's user name.")
    parser.add_argument("--reason", default="", help="Why: kept in the audit log with the action.")


def actor_from_options(options: dict[str, Any]) -> Actor:
    """The Actor of a command run with the options of `add_actor_arguments`."""
    reason = options.get("reason") or ""
    if len(reason) > MAX_REASON:
        raise CommandError(f"--reason: is {len(reason)} characters long, over the limit of {MAX_REASON}")
    if options.get("as_user"):
        user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: options["as_user"]}).first()
        if user is None or not user.is_active:
            raise CommandError(f"--as: no active user {options['as_user']!r}")
        return Actor(user=user, source=Source.COMMAND, reason=reason)
    return Actor(user=None, source=Source.COMMAND, reason=reason, name=f"{getpass.getuser()} (shell)")

