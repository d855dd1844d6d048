"""The one place where errors become HTTP answers (REST_FRAMEWORK["EXCEPTION_HANDLER"]).

Every error answer has the same shape: `{"detail": "<field>: <what was wrong>", "code": ...}`,
plus `field` when one input was at fault (named as the client typed it: `delaySeconds`, not
the service's `delay`), `currentStatus` for a 409 that knows the row's status, and
`retryAfter` for a 429.

An error the platform raises on purpose says how it is answered by class attributes, so that
this module needs no app's error classes:

    http_status    the HTTP status (400, 404, 409, 413, 429); its presence marks the error
                   as the platform's
    api_code       the body's `code`, when not the status's usual one (CODES)
    field          (instance) the input at fault: 400 and 413 name it
    current        (instance) the row's status now: a 409 adds it as `currentStatus`
    retry_after    (instance) seconds to wait: a 429 adds `retryAfter` and Retry-After

DRF's own exceptions keep their status and get the same shape; Django's RequestDataTooBig
(over DATA_UPLOAD_MAX_MEMORY_SIZE) answers 413 like the API's own body limit.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from api.parsers import RequestBodyTooLarge

# the body's `code` for each status, unless the error class names its own (`api_code`)
CODES: dict[int, str] = {
    status.HTTP_400_BAD_REQUEST: "invalid",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_409_CONFLICT: "conflict",
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE: "payload_too_large",
    status.HTTP_429_TOO_MANY_REQUESTS: "quota_exceeded",
}


class InvalidParameter(Exception):
    """A request parameter the API itself checks (a path id) is invalid: 400 naming it, in
    the same words as a service's validation error."""

    http_status = status.HTTP_400_BAD_REQUEST

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.detail = message
        super().__init__(f"{field}: {message}")


def is_platform_error(exc: BaseException) -> bool:
    """Whether `exc` says how it is answered (`http_status`): an error raised on purpose."""
    return isinstance(getattr(exc, "http_status", None), int)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: platform errors first, then DRF's, reshaped. The
    view's `service_field_names` rename the services' field names to the client's."""
    if is_platform_error(exc):
        names = getattr(context.get("view"), "service_field_names", None) or {}
        return platform_error_response(exc, field_names=names)
    if isinstance(exc, RequestDataTooBig):  # Django's own limit, met while DRF read the body
        exc = RequestBodyTooLarge(None, settings.DATA_UPLOAD_MAX_MEMORY_SIZE, setting="DATA_UPLOAD_MAX_MEMORY_SIZE")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handling
    response.data = _encodable(_reshaped(exc, response.data))
    return response


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(data: Any) -> Any:
    """The answer with every lone surrogate written as its escape (\\ud800): DRF's messages
    echo what a client sent ('"\\ud800" is not one of ...'), and the renderer's UTF-8 cannot
    encode a surrogate, which turned a 400 into a 500. An error body is small and shallow."""
    if isinstance(data, str):
        if data.isascii() or _SURROGATE.search(data) is None:
            return data
        return data.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(data, dict):
        return {_encodable(key): _encodable(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_encodable(item) for item in data]
    return data


def platform_error_response(exc: BaseException, *, field_names: Mapping[str, str] | None = None) -> Response:
    """The HTTP answer for a platform error (also used for the items of a bulk answer)."""
    http_status, body = error_body(exc, field_names=field_names)
    response = Response(body, status=http_status)
    if "retryAfter" in body:
        response["Retry-After"] = str(body["retryAfter"])
    return response


def error_body(exc: BaseException, *, field_names: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """The status and the body answering a platform error; `field_names` maps the services'
    names of fields to the client's."""
    http_status = getattr(exc, "http_status", status.HTTP_400_BAD_REQUEST)
    code = getattr(exc, "api_code", None) or CODES.get(http_status, "invalid")
    if hasattr(exc, "field"):
        field = exc.field
        client_field = (field_names or {}).get(field, field)
        message = str(exc)
        prefix = f"{field}: "
        detail = f"{client_field}: {message[len(prefix):]}" if message.startswith(prefix) else message
        return http_status, {"detail": detail, "code": code, "field": client_field}
    body: dict[str, Any] = {"detail": str(exc), "code": code}
    current = getattr(exc, "current", None)
    if http_status == status.HTTP_409_CONFLICT and current is not None:
        body["currentStatus"] = current
    retry_after = getattr(exc, "retry_after", None)
    if http_status == status.HTTP_429_TOO_MANY_REQUESTS and retry_after is not None:
        body["retryAfter"] = max(1, math.ceil(retry_after))
    return http_status, body


def _reshaped(exc: Exception, data: Any) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_error(data)
        body: dict[str, Any] = {"detail": f"{field}: {message}" if field else message, "code": "invalid"}
        if field:
            body["field"] = field
        body["errors"] = data
        return body
    detail = data.get("detail", data) if isinstance(data, dict) else data
    code = getattr(getattr(exc, "detail", None), "code", None) or getattr(exc, "default_code", "error")
    return {"detail": str(detail), "code": str(code)}


def _first_error(data: Any, path: str = "") -> tuple[str, str]:
    """The first message of a (nested) DRF error structure and the dotted field it belongs to."""
    if isinstance(data, dict):
        for key, value in data.items():
            name = "" if key == "non_field_errors" else (f"{path}.{key}" if path else str(key))
            return _first_error(value, name if key != "non_field_errors" else path)
    if isinstance(data, list) and data:
        for index, item in enumerate(data):
            if isinstance(item, (dict, list)):
                if item:  # a list of errors has {} for the items that were fine
                    return _first_error(item, f"{path}[{index}]")
                continue
            return path, str(item)
    return path, str(data)
