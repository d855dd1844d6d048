"""The OpenAPI description shared by every app's API: the error answers and the path
parameters that name the same thing in every app (an organization)."""
from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from api.serializers import ErrorSerializer

# every API view needs a user, and every app authenticates the same way
UNAUTHORIZED_TEXT = "Not signed in: send `Authorization: Bearer <token>` or use a session."

ORG_ID = OpenApiParameter("orgId", OpenApiTypes.INT64, OpenApiParameter.PATH, description="An organization id.")


def error_responses(texts: Mapping[int, str], *codes: int) -> dict[int, OpenApiResponse]:
    """The error answers an operation may give: 401 and `codes`, each described by `texts`
    (what the status means for this API's resources; 401 is the same for every API unless
    `texts` says otherwise)."""
    described = {401: UNAUTHORIZED_TEXT, **texts}
    return {code: OpenApiResponse(ErrorSerializer, description=described[code]) for code in (401, *codes)}
