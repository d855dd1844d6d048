"""Job quotas: how many jobs a person may create per minute, hour and day, and how
large a job's input may be.

1. A scope is one user alone (jobs outside any organization) or one user in one organization.
   The JOBS_QUOTA_PER_MINUTE / _HOUR / _DAY settings are the limits; an organization's own
   fields (jobs_per_minute, ...) replace them for its members; 0 means no limit of that kind.
2. Usage is counted from the Job rows themselves, in sliding windows over created_at (the
   (created_by, created_at) index): nothing to reset, and jobs created by any path count.
3. `jobs.services.job_submit` locks the scope's QuotaLock row (SELECT ... FOR UPDATE), counts,
   and creates the job in one transaction. A second request for the same scope waits for the
   first to commit and then counts its job, so two requests cannot both take the last unit.
   (SQLite serializes writers anyway: its transactions begin IMMEDIATE.)
4. Staff are exempt while JOBS_QUOTA_STAFF_EXEMPT is on; the payload limit applies to everyone.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from jobs import selectors
from jobs.conf import conf
from jobs.errors import QuotaExceeded
from jobs.models import Membership, Organization, QuotaLock

# (period, seconds, setting, organization field)
WINDOWS: tuple[tuple[str, int, str, str], ...] = (
    ("minute", 60, "JOBS_QUOTA_PER_MINUTE", "jobs_per_minute"),
    ("hour", 3600, "JOBS_QUOTA_PER_HOUR", "jobs_per_hour"),
    ("day", 86400, "JOBS_QUOTA_PER_DAY", "jobs_per_day"),
)


@dataclass(frozen=True)
class QuotaWindow:
    """One limit of a scope and its use: at most `limit` jobs per `period` (0: no limit)."""

    period: str
    seconds: int
    limit: int
    source: str
    used: int = 0
    retry_after: float | None = None

    @property
    def remaining(self) -> int | None:
        return None if self.limit == 0 else max(0, self.limit - self.used)

    @property
    def full(self) -> bool:
        return self.limit > 0 and self.used >= self.limit


@dataclass(frozen=True)
class QuotaStatus:
    """A scope's limits and how much of them is used."""

    user_id: int
    organization: Organization | None
    exempt: bool
    max_payload_bytes: int
    windows: tuple[QuotaWindow, ...]

    @property
    def scope(self) -> str:
        org = self.organization
        return f"user {self.user_id}" + (f" in organization {org.pk} ({org.slug})" if org is not None else "")

    def exceeded(self) -> QuotaWindow | None:
        """The full window one must wait longest for, or None when one more job fits."""
        full = [w for w in self.windows if w.full]
        return max(full, key=lambda w: w.retry_after or 0.0) if full else None

    def raise_if_exceeded(self) -> None:
        """QuotaExceeded naming the limit, unless the user is exempt or one more job fits."""
        window = None if self.exempt else self.exceeded()
        if window is not None:
            raise QuotaExceeded(limit=window.limit, period=window.period, scope=self.scope, source=window.source,
                                retry_after=window.retry_after or float(window.seconds))


def is_exempt(user: Any) -> bool:
    return bool(conf.quota_staff_exempt and getattr(user, "is_staff", False))


def _limits(organization: Organization | None) -> list[QuotaWindow]:
    windows = []
    for period, seconds, setting, field in WINDOWS:
        own = getattr(organization, field) if organization is not None else None
        if organization is not None and own is not None:
            windows.append(QuotaWindow(period, seconds, own, f"{field} of organization {organization.slug}"))
        else:
            windows.append(QuotaWindow(period, seconds, getattr(settings, setting), setting))
    return windows


def max_payload_bytes(organization: Organization | None) -> int:
    """The payload limit for jobs in this scope: JOBS_MAX_PAYLOAD_BYTES, or the organization's
    own limit when that is lower (it can only narrow the platform's)."""
    limit = conf.max_payload_bytes
    own = organization.max_payload_bytes if organization is not None else None
    return min(limit, own) if own else limit


def quota_status(*, user: Any, organization: Organization | None = None, now: datetime | None = None) -> QuotaStatus:
    """The scope's limits and usage: one aggregate query (one more per full window, for the
    time until it frees a unit)."""
    now = now or timezone.now()
    windows = _limits(organization)
    exempt = is_exempt(user)
    limited = [w for w in windows if w.limit > 0]
    if limited:
        jobs = selectors.jobs_in_quota_scope(user=user, organization=organization)
        longest = max(w.seconds for w in limited)
        counts = jobs.filter(created_at__gt=now - timedelta(seconds=longest)).aggregate(
            **{w.period: Count("pk", filter=Q(created_at__gt=now - timedelta(seconds=w.seconds))) for w in limited}
        )
        used = {w.period: int(counts[w.period] or 0) for w in limited}
        windows = [_with_use(w, used.get(w.period, 0), jobs, now) for w in windows]
    return QuotaStatus(user_id=user.pk, organization=organization, exempt=exempt,
                       max_payload_bytes=max_payload_bytes(organization), windows=tuple(windows))


def _with_use(window: QuotaWindow, used: int, jobs: Any, now: datetime) -> QuotaWindow:
    retry_after = None
    if window.limit > 0 and used >= window.limit:
        # One more fits once all but limit - 1 of the window's jobs have aged out of it: when
        # the (used - limit + 1)-th oldest leaves the window.
        start = now - timedelta(seconds=window.seconds)
        nth = used - window.limit
        times = jobs.filter(created_at__gt=start).order_by("created_at").values_list("created_at", flat=True)
        pivot = next(iter(times[nth : nth + 1]), None) or now
        retry_after = max(1.0, (pivot + timedelta(seconds=window.seconds) - now).total_seconds())
    return QuotaWindow(window.period, window.seconds, window.limit, window.source, used, retry_after)


def quota_overview(*, user: Any, now: datetime | None = None) -> list[QuotaStatus]:
    """The user's scopes: alone, then each organization they belong to (by id)."""
    orgs = Organization.objects.filter(
        pk__in=Membership.objects.filter(user=user).values("organization_id")
    ).order_by("pk")
    return [quota_status(user=user, organization=None, now=now)] + [
        quota_status(user=user, organization=org, now=now) for org in orgs
    ]


def quota_lock(*, user: Any, organization: Organization | None) -> None:
    """Lock the scope's row until the current transaction ends (creating it the first time).

    Must run inside `transaction.atomic()`: the lock is what makes count-then-create safe.
    """
    scope = f"user:{user.pk}" + (f":org:{organization.pk}" if organization is not None else "")
    # get_or_create absorbs the race of two first requests (the unique scope decides)
    QuotaLock.objects.get_or_create(scope=scope, defaults={"user": user, "organization": organization})
    QuotaLock.objects.select_for_update().filter(scope=scope).values_list("pk", flat=True).get()
