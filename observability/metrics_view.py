"""GET /metrics: for Prometheus, behind a bearer token or a private network.

`Authorization: Bearer <METRICS_TOKEN>`, compared in constant time; or a client address in
METRICS_ALLOWED_NETWORKS (for a Prometheus on a network only it reaches). A request that
came through a reverse proxy (it says so with X-Forwarded-For or Forwarded) needs the token:
its address is the proxy's, which is often in the allowed network (the same host). Anything
else gets 401 and learns nothing about the platform.
"""
from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from observability.exposition import render

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    # checked when the settings were read (config.env.env_networks)
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def _from_allowed_network(request: HttpRequest) -> bool:
    networks = _networks(tuple(settings.METRICS_ALLOWED_NETWORKS))
    if not networks or "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in networks)


def _has_token(request: HttpRequest) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                                  expected.encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not (_has_token(request) or _from_allowed_network(request)):
        response = HttpResponse("401 Unauthorized: send Authorization: Bearer <METRICS_TOKEN>\n", status=401,
                                content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
