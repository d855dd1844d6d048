"""Untracked jobs: a job type declared `tracked=False` runs as a Celery task with no Job row
(the platform's own maintenance, fired by the code-defined system schedules). Nothing that
needs a row applies to it: no status, no retries by the platform, no dedup, no limits.

The Celery task is still named `jobs.run_system_job` and its queue is JOBS_SYSTEM_QUEUE:
those names are in beat's tables and in messages already in Redis.
"""
from __future__ import annotations

from typing import Any

from handlers.registry import get_handler, registered_types
from jobs import publishing
from jobs.errors import UnknownJobType
from jobs.validation import check_input_schema, validated_input


def untracked_job_send(*, type: str, input: dict[str, Any] | None = None) -> str:
    """Send an untracked job after the same checks as a tracked one's input; returns the
    Celery task id."""
    spec = get_handler(type)
    if spec is None or spec.tracked:
        raise UnknownJobType(type, registered_types(tracked=False))
    payload = validated_input(input)
    check_input_schema(spec, payload)
    return publishing.send_untracked_job(job_type=type, payload=payload, queue=spec.queue)
