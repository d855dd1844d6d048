"""Who performs an operator action, through which door, from where, and why.

Services take an `Actor` (keyword `by`) instead of a bare user, so that the permission check
and the audit entry see the same facts. `by=None` is the platform acting for itself (the
sweeper, a schedule, a test): no permission check, and recorded as "system".
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


class Source:
    """The doors an action comes through."""

    ADMIN = "admin"
    API = "api"
    COMMAND = "command"
    SYSTEM = "system"

    CHOICES = [(ADMIN, "admin"), (API, "API"), (COMMAND, "command"), (SYSTEM, "system")]


@dataclass(frozen=True)
class Actor:
    """A person (or the shell) acting on the platform."""

    user: Any | None
    source: str
    address: str = ""
    reason: str = ""
    # who ran a command without naming a user: the operating system's account
    name: str = ""

    @property
    def label(self) -> str:
        if self.user is not None and getattr(self.user, "pk", None) is not None:
            return str(self.user.get_username())
        return self.name or self.source

    def has_perm(self, permission: str) -> bool:
        """A command run without `--as` acts with the shell's full rights, as the database
        credentials it holds already give it; everyone else has their Django permissions."""
        if self.user is None:
            return True
        return bool(self.user.is_active and self.user.has_perm(permission))

    def because(self, reason: str) -> Actor:
        return replace(self, reason=reason)

    @classmethod
    def from_request(cls, request: Any, source: str, reason: str = "") -> Actor:
        return cls(user=request.user, source=source, address=client_address(request), reason=reason)


def client_address(request: Any) -> str:
    """The client's address as this process saw it. A proxy's X-Forwarded-For is not trusted
    here: an operator reading the log needs the address that is true, not the one claimed."""
    meta = getattr(request, "META", {})
    return str(meta.get("REMOTE_ADDR", ""))[:64]
