"""The fields the jobs API reads with: lists given several ways, statuses by any name, times
as clients type them, ids within the database's range, a job's input as the parser gave it."""
from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from api import serializers as api_serializers
from api.serializers import MAX_ID
from jobs.states import STATUS_ALIASES, JobStatus, parse_status
from jobs.validation import shown

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
                first = messages[0] if isinstance(messages, list) else messages
                raise serializers.ValidationError(f"item {int(index) + 1}: {first}") from None
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
    """A job status in any case, aliases included (pending, processing, finished, error)."""

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


def id_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class StrictSerializer(api_serializers.StrictSerializer):
    # The shared StrictSerializer, quoting an unknown key as the job services quote a value
    # (`jobs.validation.shown`: escaped, and cut short when long). No docstring: the base's is
    # the OpenAPI description of the bodies.

    def quote(self, key: str) -> str:
        return shown(key)


class PayloadField(serializers.JSONField):
    """A job's input as the JSON parser gave it. DRF's JSONField encodes it again, recursively,
    before anything bounds its depth (a deep body was a 500); the job services check it once,
    depth first (`jobs.validation`), as on every other path."""

    def to_internal_value(self, data: Any) -> Any:
        return data
