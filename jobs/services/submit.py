"""A person's request for jobs (the API's create): `job_create` or `jobs_create_bulk` within
the person's quota (`jobs.quotas`).

The quota is counted and the jobs created in one transaction holding the scope's QuotaLock
row, so concurrent requests cannot both take the last unit. A job that does not fit raises
QuotaExceeded or PayloadTooLarge and creates nothing.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from jobs import quotas
from jobs.conf import conf
from jobs.errors import JobValidationError, QuotaExceeded
from jobs.models import Job, Organization, Project
from jobs.services import reporting
from jobs.services.create import JobCreated, job_create, jobs_create_bulk
from jobs.validation import SUBMITTED_DEDUP_KEY_MAX, organization_for, validated_dedup_key, validated_input


@reporting.counts_rejections
def job_submit(
    *,
    user: Any,
    type: str,
    input: dict[str, Any] | None = None,
    organization: Organization | None = None,
    project: Project | None = None,
    priority: int | None = None,
    run_at: datetime | None = None,
    delay: float | None = None,
    dedup_key: str | None = None,
) -> JobCreated:
    """`job_create` within the person's quota. A deduplicated request answers with the
    existing job, as `job_create` does.

    A dedup key a person gives is scoped to them, or to the organization the job is in
    ("org-3:<key>", "user-5:<key>"): otherwise anyone's queued job holding the same words
    would absorb the request and reveal its id. Keys from a type's template stay global.
    """
    organization = organization_for(project=project, organization=organization)
    if dedup_key is not None:
        dedup_key = validated_dedup_key(dedup_key, max_length=SUBMITTED_DEDUP_KEY_MAX)
        owner = f"org-{organization.pk}" if organization is not None else f"user-{user.pk}"
        dedup_key = f"{owner}:{dedup_key}"
    scope_limit = quotas.max_payload_bytes(organization)
    if scope_limit < conf.max_payload_bytes and isinstance(input, dict):
        # the organization's lower limit (a second walk, for those organizations only);
        # job_create applies the platform's
        validated_input(input, max_bytes=scope_limit)
    create: dict[str, Any] = {
        "type": type, "input": input, "created_by": user, "organization": organization, "project": project,
        "priority": priority, "run_at": run_at, "delay": delay, "dedup_key": dedup_key,
    }
    if quotas.is_exempt(user):
        return job_create(**create)
    with transaction.atomic():
        quotas.quota_lock(user=user, organization=organization)
        quotas.quota_status(user=user, organization=organization).raise_if_exceeded()
        return job_create(**create)


@reporting.counts_rejections
def jobs_submit_bulk(
    *,
    user: Any,
    type: str,
    inputs: list[dict[str, Any]],
    organization: Organization | None = None,
    project: Project | None = None,
    priority: int | None = None,
) -> list[Job]:
    """`jobs_create_bulk` within the person's quota: one check for the whole batch (every
    window must have room for all of them); all or nothing."""
    organization = organization_for(project=project, organization=organization)
    scope_limit = quotas.max_payload_bytes(organization)
    if isinstance(inputs, list) and scope_limit < conf.max_payload_bytes:
        for index, value in enumerate(inputs):
            try:
                if isinstance(value, dict):
                    validated_input(value, max_bytes=scope_limit)  # the organization's lower limit
            except JobValidationError as exc:
                raise JobValidationError(f"inputs[{index}]{exc.field[len('input'):]}", exc.detail) from None
    create: dict[str, Any] = {
        "type": type, "inputs": inputs, "created_by": user, "organization": organization, "project": project,
        "priority": priority,
    }
    if quotas.is_exempt(user):
        return jobs_create_bulk(**create)
    with transaction.atomic():
        quotas.quota_lock(user=user, organization=organization)
        quota = quotas.quota_status(user=user, organization=organization)
        quota.raise_if_exceeded()
        wanted = len(inputs) if isinstance(inputs, list) else 0
        for window in quota.windows:
            if window.remaining is not None and window.remaining < wanted:
                raise QuotaExceeded(limit=window.limit, period=window.period, scope=quota.scope,
                                    source=window.source, retry_after=float(window.seconds))
        return jobs_create_bulk(**create)
