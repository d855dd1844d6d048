"""The API's JSON parser: the body size is checked before anything is parsed.

DRF before 3.17.2 parsed JSON straight from the request stream, so Django's
DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default) never applied to it; 3.17.2 and later (3.18.3
here) read it through `request.body`, which does check it. Either way the API keeps its own,
smaller limit, JOBS_API_MAX_BODY_BYTES (a full payload plus its envelope), and answers 413:

  1. `jobs.api.views.ApiView.initial` refuses a declared Content-Length over the limit before
     a byte of the body is read;
  2. this parser reads at most one byte past the limit (for a body of undeclared length);
  3. `jobs.api.errors` answers Django's RequestDataTooBig (over DATA_UPLOAD_MAX_MEMORY_SIZE)
     with the same 413, not Django's bare 400.
"""
from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser


class RequestBodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self, size: int | None, limit: int, setting: str = "JOBS_API_MAX_BODY_BYTES") -> None:
        told = f"{size} bytes, " if size is not None else ""
        super().__init__(f"request body: {told}over the limit of {limit} bytes ({setting})")


def check_declared_length(request: Any) -> None:
    """RequestBodyTooLarge if the request's Content-Length is over JOBS_API_MAX_BODY_BYTES."""
    declared = _content_length(request)
    if declared is not None and declared > settings.JOBS_API_MAX_BODY_BYTES:
        raise RequestBodyTooLarge(declared, settings.JOBS_API_MAX_BODY_BYTES)


class LimitedJSONParser(JSONParser):
    """JSONParser with a hard limit on the bytes it reads."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        limit = settings.JOBS_API_MAX_BODY_BYTES
        check_declared_length((parser_context or {}).get("request"))
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise RequestBodyTooLarge(None, limit)
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            # a megabyte of "[[[[..." would otherwise end as a 500
            raise ParseError("JSON parse error - nested too deeply") from None


def _content_length(request: Any) -> int | None:
    meta = getattr(request, "META", None) or {}
    try:
        return int(meta.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
