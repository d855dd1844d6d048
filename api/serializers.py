"""What every app's API shares in its serializers: the bounds of ids and pages, a serializer
that refuses unknown keys, and the description of the error body for the OpenAPI schema."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

# Database ids are 64-bit: a larger number can match nothing, and must not reach the database.
MAX_ID = 2**63 - 1
MAX_OFFSET = 10**9
API_MAX_LIMIT = 100


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know, naming them: a typo must not be silently ignored."""

    # (The docstring is the OpenAPI description of the bodies built on this class.)

    def quote(self, key: str) -> str:
        """The unknown key as the message shows it: escaped, because a raw NUL or surrogate
        would break the JSON answer (an app may also shorten a long key)."""
        return repr(key)

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                known = ", ".join(self.fields)
                name = unknown[0] if unknown[0].isprintable() else self.quote(unknown[0])
                raise serializers.ValidationError(
                    {name: [f"unknown field {self.quote(unknown[0])}; the fields are: {known}"]}
                )
        return super().to_internal_value(data)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What was wrong, naming the field or the job and its status.")
    code = serializers.CharField()
    field = serializers.CharField(required=False, help_text="The parameter or body field at fault.")
    currentStatus = serializers.CharField(required=False, help_text="409: the job's status now.")
    retryAfter = serializers.IntegerField(required=False, help_text="429: seconds to wait (also Retry-After).")
    errors = serializers.JSONField(required=False, help_text="400: every field's messages.")  # type: ignore[assignment]  # the API's field, not Serializer.errors
