"""The base of every API view, and the request checks every view shares."""
from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from api.errors import InvalidParameter
from api.parsers import check_declared_length
from api.serializers import MAX_ID

# The platform services' names for fields -> the names a client sent, in every app's API (an
# error names the latter): a schedule's run-now meets the job services' errors too.
SERVICE_FIELD_NAMES: dict[str, str] = {
    "delay": "delaySeconds",
    "order_by": "orderBy",
    "direction": "orderDirection",
    "created_by": "userId",
}


class ApiView(APIView):
    """The API's base view: a body declared over JOBS_API_MAX_BODY_BYTES is refused (413)
    before authentication, permissions or a byte of it is read."""

    # (The docstring is the OpenAPI description of any operation that gives none: keep it so.)
    # The services' names of fields in their errors -> the names the client sent (`delay` ->
    # `delaySeconds`); the exception handler renames them.
    service_field_names: ClassVar[dict[str, str]] = {}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        check_declared_length(request)
        super().initial(request, *args, **kwargs)


def valid(serializer_class: type[serializers.Serializer], data: Any, *, partial: bool = False) -> Any:
    """The serializer, validated (DRF's ValidationError, a 400 naming the field, otherwise)."""
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer


def path_id(raw: str, name: str) -> int:
    """A numeric id from the path; 400 naming the parameter otherwise (a larger number than
    the database's ids must not reach it)."""
    text = str(raw).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise InvalidParameter(name, f"{raw!r} is not an id (a positive integer)")
    return int(text)
