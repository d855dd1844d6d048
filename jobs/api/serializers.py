"""What the API reads (query strings, bodies) and what it answers, in the seeds' camelCase.

Input serializers validate what a client typed and name the parameter in every error. Output
serializers describe the answers for the OpenAPI schema; the job itself is rendered by
`jobs.presenters.job_to_dict`, the shape the management commands print too, and a contract
test keeps the two in step.
"""
from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from rest_framework import serializers

from jobs.states import STATUS_ALIASES, JobStatus, parse_status
from jobs.validation import MAX_DELAY, MAX_DELAY_SECONDS, MAX_INPUT_DEPTH, SUBMITTED_DEDUP_KEY_MAX, shown

# Database ids are 64-bit: a larger number can match nothing, and must not reach the database.
MAX_ID = 2**63 - 1
MAX_OFFSET = 10**9
API_MAX_LIMIT = 100

ORDER_BY_CHOICES: dict[str, str] = {
    "created_at": "created_at",
    "createdAt": "created_at",
    "updated_at": "updated_at",
    "updatedAt": "updated_at",
    "type": "type",
    "status": "status",
}
STATUS_NAMES = ", ".join([*JobStatus.values, *STATUS_ALIASES])


class FlatListField(serializers.ListField):
    """A ListField whose item errors are reported under the list's own name ("ids: item 2:
    Must be a valid UUID."), not under a made-up "ids.1"."""

    def to_internal_value(self, data: Any) -> list[Any]:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict):
                index, messages = next(iter(exc.detail.items()))
                raise serializers.ValidationError(f"item {int(index) + 1}: {messages[0]}") from None
            raise


class CommaSeparatedListField(FlatListField):
    """A list given as a repeated parameter (`types=a&types=b`), comma-separated (`types=a,b`),
    or, in a JSON body, as an array or one comma-separated string."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, str):
            data = [data]
        if not isinstance(data, (list, tuple)):
            self.fail("not_a_list", input_type=type(data).__name__)
        items: list[Any] = []
        for value in data:
            if isinstance(value, str):
                items.extend(part.strip() for part in value.split(",") if part.strip())
            else:
                items.append(value)
        return super().to_internal_value(items)


class StatusField(serializers.CharField):
    """A job status in any case, seed aliases included (pending, processing, finished, error)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("help_text", f"One of {STATUS_NAMES} (any case).")
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        try:
            return parse_status(text)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class QueryDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time in a query string, forgiving two common slips: a date alone (midnight,
    in TIME_ZONE) and an offset whose "+" was not URL-encoded (so arrived as a space)."""

    _DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
    _SPACED_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if self._DATE_ONLY.match(value):
                value += "T00:00:00"
            value = self._SPACED_OFFSET.sub(r"\1+\2", value)
        return super().to_internal_value(value)


def _id_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know, naming them: a typo must not be silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                known = ", ".join(self.fields)
                # the key as repr() escapes it: a raw NUL or surrogate would break the JSON answer
                name = unknown[0] if unknown[0].isprintable() else shown(unknown[0])
                raise serializers.ValidationError(
                    {name: [f"unknown field {shown(unknown[0])}; the fields are: {known}"]}
                )
        return super().to_internal_value(data)


class PayloadField(serializers.JSONField):
    """A job's input as the JSON parser gave it. DRF's JSONField encodes it again, recursively,
    before anything bounds its depth (a deep body was a 500); the job services check it once,
    depth first (`jobs.validation`), as on every other path."""

    def to_internal_value(self, data: Any) -> Any:
        return data


# --- query strings ---------------------------------------------------------------------------


class JobFilterSerializer(serializers.Serializer):
    """The filters of every job list (and of the bulk actions)."""

    types = CommaSeparatedListField(
        child=serializers.CharField(max_length=100), required=False, max_length=50,
        help_text="Only jobs of these types: repeat the parameter or separate with commas.",
    )
    statuses = CommaSeparatedListField(
        child=StatusField(), required=False, max_length=20,
        help_text=f"Only jobs in these statuses ({STATUS_NAMES}; any case): repeat or separate with commas.",
    )
    status = StatusField(required=False, help_text=f"Only jobs in this status (seed 001). One of {STATUS_NAMES}.")
    userId = _id_field(required=False, help_text="Only jobs created by this user id.")
    projectId = _id_field(required=False, help_text="Only jobs of this project id.")
    orgId = _id_field(required=False, help_text="Only jobs of this organization id.")
    createdAfter = QueryDateTimeField(required=False, help_text="Only jobs created at or after (ISO 8601).")
    createdBefore = QueryDateTimeField(required=False, help_text="Only jobs created before (ISO 8601).")

    def selector_filters(self) -> dict[str, Any]:
        """The validated filters as `jobs.selectors.job_list` keywords."""
        data = self.validated_data
        statuses = list(data.get("statuses") or [])
        if data.get("status"):
            statuses.append(data["status"])
        return {
            "types": data.get("types") or None,
            "statuses": statuses or None,
            "created_by": data.get("userId"),
            "project": data.get("projectId"),
            "organization": data.get("orgId"),
            "created_after": data.get("createdAfter"),
            "created_before": data.get("createdBefore"),
        }


class JobListQuerySerializer(JobFilterSerializer):
    limit = serializers.IntegerField(min_value=1, max_value=API_MAX_LIMIT, default=50,
                                     help_text=f"Jobs per page, 1-{API_MAX_LIMIT}.")
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0,
                                      help_text="How many matching jobs to skip.")
    orderBy = serializers.ChoiceField(choices=list(ORDER_BY_CHOICES), default="created_at",
                                      help_text="Sort key (snake_case or camelCase).")
    orderDirection = serializers.ChoiceField(choices=["asc", "desc"], default="desc")

    def selector_arguments(self) -> dict[str, Any]:
        data = self.validated_data
        return {
            **self.selector_filters(),
            "order_by": ORDER_BY_CHOICES[data["orderBy"]],
            "direction": data["orderDirection"],
            "limit": data["limit"],
            "offset": data["offset"],
        }


class ProjectJobListQuerySerializer(JobListQuerySerializer):
    """A project's jobs: the project comes from the path."""

    projectId = None
    orgId = None


class OrgJobListQuerySerializer(JobListQuerySerializer):
    """An organization's jobs: the organization comes from the path."""

    orgId = None


# --- bodies ----------------------------------------------------------------------------------


class JobCreateSerializer(StrictSerializer):
    type = serializers.CharField(max_length=100, help_text="A registered job type (see /api/job-types).")
    input = PayloadField(required=False, allow_null=True,
                         help_text="The job's payload: a JSON object of at most JOBS_MAX_PAYLOAD_BYTES (as compact "
                                   f"JSON) and {MAX_INPUT_DEPTH} levels of nesting, without NUL (U+0000) or lone "
                                   "surrogates (U+D800-U+DFFF).")
    priority = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=10,
                                        help_text="1 (most urgent) to 10; default: the type's.")
    projectId = _id_field(required=False, allow_null=True)
    orgId = _id_field(required=False, allow_null=True)
    # the bounds of runAt and delaySeconds are the job services' (jobs.validation.MAX_DELAY)
    runAt = serializers.DateTimeField(required=False, allow_null=True,
                                      help_text=f"Do not start before this time (at most {MAX_DELAY.days} days ahead).")
    delaySeconds = serializers.FloatField(required=False, allow_null=True,
                                          help_text="Do not start before this many seconds from now "
                                                    f"(0 to {MAX_DELAY_SECONDS:.0f}, {MAX_DELAY.days} days).")
    dedupKey = serializers.CharField(required=False, allow_null=True, max_length=SUBMITTED_DEDUP_KEY_MAX,
                                     help_text="At most one queued job holds a given key (yours, or your "
                                     "organization's); a second request with it answers 200 with that job.")


class JobBulkCreateSerializer(StrictSerializer):
    type = serializers.CharField(max_length=100, help_text="A registered job type (see /api/job-types).")
    inputs = serializers.ListField(child=PayloadField(), min_length=1,
                                   help_text="One JSON object per job (at most JOBS_API_BULK_MAX).")
    priority = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=10,
                                        help_text="1 (most urgent) to 10; default: the type's.")
    projectId = _id_field(required=False, allow_null=True)
    orgId = _id_field(required=False, allow_null=True)

    def validate_inputs(self, value: list[Any]) -> list[Any]:
        if len(value) > settings.JOBS_API_BULK_MAX:
            raise serializers.ValidationError(
                f"at most {settings.JOBS_API_BULK_MAX} jobs per request (JOBS_API_BULK_MAX), got {len(value)}"
            )
        return value


class JobsCreatedSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.UUIDField())


class OrgJobCreateSerializer(JobCreateSerializer):
    """Creating in an organization: the organization comes from the path."""

    orgId = None


class BulkActionSerializer(StrictSerializer, JobFilterSerializer):
    """Jobs by id, or by the list's filters (at least one: a bulk action never means "all")."""

    ids = FlatListField(child=serializers.UUIDField(), required=False, min_length=1,
                                help_text="Job ids (at most JOBS_API_BULK_MAX).")

    def validate_ids(self, value: list[Any]) -> list[Any]:
        if len(value) > settings.JOBS_API_BULK_MAX:
            raise serializers.ValidationError(
                f"at most {settings.JOBS_API_BULK_MAX} ids per request (JOBS_API_BULK_MAX), got {len(value)}"
            )
        return list(dict.fromkeys(value))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        filters = [name for name in attrs if name != "ids" and attrs[name] not in (None, [], "")]
        if "ids" in attrs and filters:
            raise serializers.ValidationError({"ids": [f"give ids or filters, not both (got ids and {filters[0]})"]})
        if "ids" not in attrs and not filters:
            raise serializers.ValidationError(
                {"ids": ["give the ids of the jobs, or at least one filter (statuses, types, userId, projectId, "
                         "orgId, createdAfter, createdBefore)"]}
            )
        return attrs


# --- answers (the OpenAPI schema's description of them) --------------------------------------


class JobSerializer(serializers.Serializer):
    """A job, as `jobs.presenters.job_to_dict` renders it."""

    id = serializers.UUIDField()
    type = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.values)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    progressMessage = serializers.CharField(allow_blank=True)
    input = serializers.JSONField()
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    priority = serializers.IntegerField()
    queue = serializers.CharField()
    attempts = serializers.IntegerField(help_text="How many times it started.")
    maxAttempts = serializers.IntegerField()
    dedupKey = serializers.CharField(allow_null=True)
    createdBy = serializers.IntegerField(allow_null=True, help_text="The creator's user id.")
    createdByName = serializers.CharField(allow_null=True)
    orgId = serializers.IntegerField(allow_null=True)
    organizationId = serializers.IntegerField(allow_null=True, help_text="The same as orgId.")
    projectId = serializers.IntegerField(allow_null=True)
    projectName = serializers.CharField(allow_null=True)
    cancelRequested = serializers.BooleanField()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    queuedAt = serializers.DateTimeField(allow_null=True)
    startedAt = serializers.DateTimeField(allow_null=True)
    completedAt = serializers.DateTimeField(allow_null=True)
    runAt = serializers.DateTimeField(allow_null=True)
    estimatedDuration = serializers.FloatField(allow_null=True, help_text="seconds")
    actualDuration = serializers.FloatField(allow_null=True, help_text="seconds")


class AttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    worker = serializers.CharField(allow_blank=True)
    outcome = serializers.CharField()
    startedAt = serializers.DateTimeField()
    finishedAt = serializers.DateTimeField(allow_null=True)
    duration = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class JobDetailSerializer(JobSerializer):
    attemptHistory = AttemptSerializer(many=True, help_text="Each execution attempt, first to last.")


class PaginationSerializer(serializers.Serializer):
    total = serializers.IntegerField(
        help_text="How many jobs match the filters: exact up to JOBS_API_EXACT_TOTAL_MAX (10,000 by default), "
                  "PostgreSQL's estimate beyond it (then totalIsExact is false).")
    totalIsExact = serializers.BooleanField(
        help_text="False when total is an estimate: more jobs matched than JOBS_API_EXACT_TOTAL_MAX. The estimate "
                  "is never below the jobs up to the end of this page (plus one when hasNext).")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    hasNext = serializers.BooleanField(help_text="Whether jobs follow this page (always exact).")


class JobPageSerializer(serializers.Serializer):
    jobs = JobSerializer(many=True)
    pagination = PaginationSerializer()


class JobCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    jobId = serializers.UUIDField(help_text="The same as id (seed 002's name).")
    status = serializers.ChoiceField(choices=JobStatus.values)
    deduplicated = serializers.BooleanField(help_text="True: an existing queued job with the same dedup key.")


class JobCancelledSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=JobStatus.values)
    cancelRequested = serializers.BooleanField(help_text="A running job was asked to stop (202).")
    completedAt = serializers.DateTimeField(allow_null=True)


class JobRetriedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=JobStatus.values)
    progress = serializers.IntegerField()
    error = serializers.CharField(allow_null=True)
    startedAt = serializers.DateTimeField(allow_null=True)
    completedAt = serializers.DateTimeField(allow_null=True)


class JobStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    queued = serializers.IntegerField()
    running = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()


class BulkErrorSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.IntegerField(help_text="The HTTP status this job alone would have answered.")
    code = serializers.CharField()
    detail = serializers.CharField()


class BulkResultSerializer(serializers.Serializer):
    changed = serializers.IntegerField(help_text="How many jobs changed.")
    ids = serializers.ListField(child=serializers.UUIDField(), help_text="The jobs that changed.")
    errors = BulkErrorSerializer(many=True, help_text="The jobs left alone, and why.")
    hasMore = serializers.BooleanField(help_text="More jobs matched the filters than one request acts on.")


class JobTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    queue = serializers.CharField()
    policy = serializers.DictField(help_text="Attempts, backoff, priority, concurrency, rate limit, debounce...")
    inputSchema = serializers.DictField(allow_null=True, help_text="JSON Schema of the input, when the type has one.")


class JobTypeListSerializer(serializers.Serializer):
    jobTypes = JobTypeSerializer(many=True)


class QuotaFiguresSerializer(serializers.Serializer):
    perMinute = serializers.IntegerField(allow_null=True)
    perHour = serializers.IntegerField(allow_null=True)
    perDay = serializers.IntegerField(allow_null=True)


class QuotaScopeSerializer(serializers.Serializer):
    orgId = serializers.IntegerField(allow_null=True, help_text="null: jobs outside any organization.")
    orgName = serializers.CharField(allow_null=True)
    limits = QuotaFiguresSerializer(help_text="0: no limit.")
    used = QuotaFiguresSerializer()
    remaining = QuotaFiguresSerializer(help_text="null: no limit.")
    maxPayloadBytes = serializers.IntegerField()
    retryAfter = serializers.IntegerField(allow_null=True, help_text="Seconds until one more job fits, when full.")


class QuotaSerializer(serializers.Serializer):
    exempt = serializers.BooleanField(help_text="Staff are exempt while JOBS_QUOTA_STAFF_EXEMPT is on.")
    maxBodyBytes = serializers.IntegerField()
    scopes = QuotaScopeSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What was wrong, naming the field or the job and its status.")
    code = serializers.CharField()
    field = serializers.CharField(required=False, help_text="The parameter or body field at fault.")
    currentStatus = serializers.CharField(required=False, help_text="409: the job's status now.")
    retryAfter = serializers.IntegerField(required=False, help_text="429: seconds to wait (also Retry-After).")
    errors = serializers.JSONField(required=False, help_text="400: every field's messages.")
