"""What the jobs API reads: the list's query strings and the bodies of create and of the
bulk actions. Each names the parameter in every error; the meaning (a registered type, an
input that fits its schema, a time within reach) is checked by `jobs.services`."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.serializers import API_MAX_LIMIT, MAX_OFFSET
from jobs.api.serializers.fields import (
    STATUS_NAMES,
    CommaSeparatedListField,
    FlatListField,
    PayloadField,
    QueryDateTimeField,
    StatusField,
    StrictSerializer,
    id_field,
)
from jobs.conf import conf
from jobs.validation import MAX_DELAY, MAX_DELAY_SECONDS, MAX_INPUT_DEPTH, SUBMITTED_DEDUP_KEY_MAX

ORDER_BY_CHOICES: dict[str, str] = {
    "created_at": "created_at",
    "createdAt": "created_at",
    "updated_at": "updated_at",
    "updatedAt": "updated_at",
    "type": "type",
    "status": "status",
}


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
    status = StatusField(required=False,
                         help_text=f"Only jobs in this status (one status; see statuses). One of {STATUS_NAMES}.")
    userId = id_field(required=False, help_text="Only jobs created by this user id.")
    projectId = id_field(required=False, help_text="Only jobs of this project id.")
    orgId = id_field(required=False, help_text="Only jobs of this organization id.")
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

    projectId = None  # type: ignore[assignment]  # None removes the parent's field (DRF)
    orgId = None  # type: ignore[assignment]  # None removes the parent's field (DRF)


class OrgJobListQuerySerializer(JobListQuerySerializer):
    """An organization's jobs: the organization comes from the path."""

    orgId = None  # type: ignore[assignment]  # None removes the parent's field (DRF)


# --- bodies ----------------------------------------------------------------------------------


class JobCreateSerializer(StrictSerializer):
    type = serializers.CharField(max_length=100, help_text="A registered job type (see /api/job-types).")
    input = PayloadField(required=False, allow_null=True,
                         help_text="The job's payload: a JSON object of at most JOBS_MAX_PAYLOAD_BYTES (as compact "
                                   f"JSON) and {MAX_INPUT_DEPTH} levels of nesting, without NUL (U+0000) or lone "
                                   "surrogates (U+D800-U+DFFF).")
    priority = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=10,
                                        help_text="1 (most urgent) to 10; default: the type's.")
    projectId = id_field(required=False, allow_null=True)
    orgId = id_field(required=False, allow_null=True)
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
    projectId = id_field(required=False, allow_null=True)
    orgId = id_field(required=False, allow_null=True)

    def validate_inputs(self, value: list[Any]) -> list[Any]:
        if len(value) > conf.api_bulk_max:
            raise serializers.ValidationError(
                f"at most {conf.api_bulk_max} jobs per request (JOBS_API_BULK_MAX), got {len(value)}"
            )
        return value


class OrgJobCreateSerializer(JobCreateSerializer):
    """Creating in an organization: the organization comes from the path."""

    orgId = None  # type: ignore[assignment]  # None removes the parent's field (DRF)


class BulkActionSerializer(StrictSerializer, JobFilterSerializer):
    """Jobs by id, or by the list's filters (at least one: a bulk action never means "all")."""

    ids = FlatListField(child=serializers.UUIDField(), required=False, min_length=1,
                                help_text="Job ids (at most JOBS_API_BULK_MAX).")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000,
                                   help_text="Why: kept in the audit log with the action.")

    def validate_ids(self, value: list[Any]) -> list[Any]:
        if len(value) > conf.api_bulk_max:
            raise serializers.ValidationError(
                f"at most {conf.api_bulk_max} ids per request (JOBS_API_BULK_MAX), got {len(value)}"
            )
        return list(dict.fromkeys(value))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        filters = [name for name in attrs if name not in ("ids", "reason") and attrs[name] not in (None, [], "")]
        if "ids" in attrs and filters:
            raise serializers.ValidationError({"ids": [f"give ids or filters, not both (got ids and {filters[0]})"]})
        if "ids" not in attrs and not filters:
            raise serializers.ValidationError(
                {"ids": ["give the ids of the jobs, or at least one filter (statuses, types, userId, projectId, "
                         "orgId, createdAfter, createdBefore)"]}
            )
        return attrs
