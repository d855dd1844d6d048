"""The one place where errors become HTTP answers.

Every error answer has the same shape: `{"detail": "<field>: <what was wrong>", "code": ...}`,
plus `field` when one input was at fault (named as the client typed it: `delaySeconds`, not
the service's `delay`), `currentStatus` for a 409, and `retryAfter` for a 429.

    JobValidationError    400  (the field it names)
    PayloadTooLarge       413  (the input; the request body too: RequestBodyTooLarge, and
                               Django's RequestDataTooBig)
    JobNotFound           404  (also someone else's job: never 403 for a job)
    InvalidJobTransition  409  (the message names the job's current status)
    QuotaExceeded         429  with Retry-After in whole seconds
    ScheduleNotFound      404  (also someone else's schedule)
    ScheduleConflict      409  (a system schedule edited through the API, an overlapping run-now)
    DRF's own exceptions  their status, the same shape
"""
from __future__ import annotations

import math
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from jobs.api.parsers import RequestBodyTooLarge
from jobs.errors import (
    ConveyorError, InvalidJobTransition, JobNotFound, JobValidationError, PayloadTooLarge, QuotaExceeded,
)
from scheduler.errors import ScheduleConflict, ScheduleNotFound

# the services' names for fields -> the names a client sent
API_FIELD_NAMES: dict[str, str] = {
    "delay": "delaySeconds",
    "order_by": "orderBy",
    "direction": "orderDirection",
    "created_by": "userId",
    # the scheduler services name the job type `jobType`; the API's body calls it `type`, as for jobs
    "jobType": "type",
}


def api_field(name: str) -> str:
    return API_FIELD_NAMES.get(name, name)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: platform errors first, then DRF's, reshaped."""
    if isinstance(exc, ConveyorError):
        return platform_error_response(exc)
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


def platform_error_response(exc: ConveyorError) -> Response:
    """The HTTP answer for a platform error (also used for the items of a bulk answer)."""
    http_status, body = error_body(exc)
    response = Response(body, status=http_status)
    if isinstance(exc, QuotaExceeded):
        response["Retry-After"] = str(body["retryAfter"])
    return response


def error_body(exc: ConveyorError) -> tuple[int, dict[str, Any]]:
    if isinstance(exc, JobValidationError):
        field = api_field(exc.field)
        message = str(exc)
        prefix = f"{exc.field}: "
        detail = f"{field}: {message[len(prefix):]}" if message.startswith(prefix) else message
        if isinstance(exc, PayloadTooLarge):
            return status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, {"detail": detail, "code": "payload_too_large",
                                                               "field": field}
        return status.HTTP_400_BAD_REQUEST, {"detail": detail, "code": "invalid", "field": field}
    if isinstance(exc, JobNotFound):
        return status.HTTP_404_NOT_FOUND, {"detail": str(exc), "code": "not_found"}
    if isinstance(exc, InvalidJobTransition):
        return status.HTTP_409_CONFLICT, {"detail": str(exc), "code": "invalid_transition",
                                          "currentStatus": exc.current}
    if isinstance(exc, ScheduleNotFound):
        return status.HTTP_404_NOT_FOUND, {"detail": str(exc), "code": "not_found"}
    if isinstance(exc, ScheduleConflict):
        return status.HTTP_409_CONFLICT, {"detail": str(exc), "code": "conflict"}
    if isinstance(exc, QuotaExceeded):
        wait = max(1, math.ceil(exc.retry_after))
        return status.HTTP_429_TOO_MANY_REQUESTS, {"detail": str(exc), "code": "quota_exceeded",
                                                   "retryAfter": wait}
    return status.HTTP_400_BAD_REQUEST, {"detail": str(exc), "code": "invalid"}


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
