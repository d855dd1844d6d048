"""The API's JSON parser: the body size is checked before anything is parsed.

DRF before 3.17.2 parsed JSON straight from the request stream, so Django's
DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default) never applied to it; 3.17.2 and later read it
through `request.body`, which does check it. Either way the API keeps its own, smaller limit,
JOBS_API_MAX_BODY_BYTES (a full payload plus its envelope), and answers 413:

  1. `api.views.ApiView.initial` refuses a declared Content-Length over the limit before a
     byte of the body is read;
  2. this parser reads at most one byte past the limit (for a body of undeclared length);
  3. `api.errors` answers Django's RequestDataTooBig (over DATA_UPLOAD_MAX_MEMORY_SIZE) with
     the same 413, not Django's bare 400.

A body nested deeper than Python's json can parse answers 400 naming the field that holds the
first level past `max_depth`; an app sets the depth its values may have (and how a long field
name is quoted) on a subclass.
"""
from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, ValidationError
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
    """JSONParser with a hard limit on the bytes it reads.

    `max_depth`: the levels of nesting a body field's value may have, reported when json gives
    up on a deeper body."""

    max_depth: ClassVar[int] = 64

    def quote(self, key: str) -> str:
        """A field name that cannot be shown as it is (too long, unprintable), for a message."""
        return repr(key)

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        limit = settings.JOBS_API_MAX_BODY_BYTES
        check_declared_length((parser_context or {}).get("request"))
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise RequestBodyTooLarge(None, limit)
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            # a megabyte of "[[[[..." would otherwise end as a 500; 400 naming where it was
            field = self._too_deep_at(body.decode("utf-8", "replace"))
            if field is None:
                raise ParseError("JSON parse error - nested too deeply") from None
            raise ValidationError({field: [f"is nested more than {self.max_depth} levels deep"]}) from None

    def _too_deep_at(self, text: str) -> str | None:
        """The body's field (`input`, `inputs[2]`) holding the first place nested deeper than
        `max_depth`, or None. Run only once json gave up, so speed matters little; it stops at
        that first place, with no recursion."""
        open_: list[list[Any]] = []  # per open container: its bracket and its current key or index
        expect_key = False
        for match in _TOKEN.finditer(text):
            token = match.group()
            if token in "{[":
                open_.append([token, None if token == "{" else 0])
                expect_key = token == "{"
                # the body and, for a body holding a list of values, that list come above the
                # value's own levels
                if len(open_) > self.max_depth + 2:
                    return self._field_name(open_)
            elif token in "}]":
                if open_:
                    open_.pop()
                expect_key = False
            elif token == ",":
                if open_ and open_[-1][0] == "[":
                    open_[-1][1] += 1
                else:
                    expect_key = True
            elif token == ":":
                expect_key = False
            elif expect_key and open_:
                open_[-1][1] = _key(token)
        return None

    def _field_name(self, open_: list[list[Any]]) -> str | None:
        key = open_[0][1] if open_[0][0] == "{" else None
        if not isinstance(key, str):
            return None
        name = key if key.isprintable() and len(key) <= 100 else self.quote(key)
        if len(open_) > 2 and open_[1][0] == "[":
            name += f"[{open_[1][1]}]"
        return name


# a JSON string (escapes included) or one structural character; whitespace and scalars skipped
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]')


def _key(token: str) -> Any:
    try:
        return json.loads(token)
    except ValueError:
        return token[1:-1]


def _content_length(request: Any) -> int | None:
    meta = getattr(request, "META", None) or {}
    try:
        return int(meta.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
