"""What the jobs API reads (query strings, bodies) and what it answers, in camelCase.

    fields.py    the fields it reads with (lists, statuses, times, ids, a job's input)
    requests.py  the query strings and bodies; every error names the parameter
    answers.py   the answers, described for the OpenAPI schema

The bounds of ids and pages and the error body are the shared ones (`api.serializers`).
"""
from __future__ import annotations

from api.serializers import API_MAX_LIMIT, MAX_ID, MAX_OFFSET, ErrorSerializer
from jobs.api.serializers.answers import (
    AttemptSerializer,
    BulkErrorSerializer,
    BulkResultSerializer,
    JobCancelledSerializer,
    JobCreatedSerializer,
    JobDetailSerializer,
    JobPageSerializer,
    JobRetriedSerializer,
    JobsCreatedSerializer,
    JobSerializer,
    JobStatsSerializer,
    JobTypeListSerializer,
    JobTypeSerializer,
    PaginationSerializer,
    QuotaFiguresSerializer,
    QuotaScopeSerializer,
    QuotaSerializer,
)
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
from jobs.api.serializers.requests import (
    ORDER_BY_CHOICES,
    BulkActionSerializer,
    JobBulkCreateSerializer,
    JobCreateSerializer,
    JobFilterSerializer,
    JobListQuerySerializer,
    OrgJobCreateSerializer,
    OrgJobListQuerySerializer,
    ProjectJobListQuerySerializer,
)

__all__ = [
    "API_MAX_LIMIT", "MAX_ID", "MAX_OFFSET", "ORDER_BY_CHOICES", "STATUS_NAMES",
    "AttemptSerializer", "BulkActionSerializer", "BulkErrorSerializer", "BulkResultSerializer",
    "CommaSeparatedListField", "ErrorSerializer", "FlatListField", "JobBulkCreateSerializer",
    "JobCancelledSerializer", "JobCreateSerializer", "JobCreatedSerializer", "JobDetailSerializer",
    "JobFilterSerializer", "JobListQuerySerializer", "JobPageSerializer", "JobRetriedSerializer",
    "JobSerializer", "JobStatsSerializer", "JobTypeListSerializer", "JobTypeSerializer", "JobsCreatedSerializer",
    "OrgJobCreateSerializer", "OrgJobListQuerySerializer", "PaginationSerializer", "PayloadField",
    "ProjectJobListQuerySerializer", "QueryDateTimeField", "QuotaFiguresSerializer", "QuotaScopeSerializer",
    "QuotaSerializer", "StatusField", "StrictSerializer", "id_field",
]
