"""What the jobs API answers, described for the OpenAPI schema. The job itself is rendered by
`jobs.presenters.job_to_dict`, the shape the management commands print too; a contract test
keeps `JobSerializer` and it in step."""
from __future__ import annotations

from rest_framework import serializers

from jobs.states import JobStatus


class JobSerializer(serializers.Serializer):
    """A job, as `jobs.presenters.job_to_dict` renders it."""

    id = serializers.UUIDField()
    type = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.values)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    progressMessage = serializers.CharField(allow_blank=True)
    input = serializers.JSONField(allow_null=True, help_text="null when `payloadHidden` says why")
    result = serializers.JSONField(allow_null=True)
    payloadHidden = serializers.CharField(
        allow_null=True, help_text="Why input and result are withheld from you (a permission you lack), or null.")
    maskedInputFields = serializers.ListField(
        child=serializers.CharField(), help_text="Input fields its handler declares sensitive, shown masked to you.")
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
    jobId = serializers.UUIDField(help_text="The same as id (the name earlier clients read).")
    status = serializers.ChoiceField(choices=JobStatus.values)
    deduplicated = serializers.BooleanField(help_text="True: an existing queued job with the same dedup key.")


class JobsCreatedSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.UUIDField())


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
    errors = BulkErrorSerializer(many=True, help_text="The jobs left alone, and why.")  # type: ignore[assignment]  # the API's field, not Serializer.errors
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
