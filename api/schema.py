"""The OpenAPI description of the error answers, shared by every app's API."""
from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular.utils import OpenApiResponse

from api.serializers import ErrorSerializer


def error_responses(texts: Mapping[int, str], *codes: int) -> dict[int, OpenApiResponse]:
    """The error answers an operation may give: 401 (every API view needs a user) and `codes`,
    each described by `texts` (what the status means for this API's resources)."""
    return {code: OpenApiResponse(ErrorSerializer, description=texts[code]) for code in (401, *codes)}
