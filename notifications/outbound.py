"""HTTP to a webhook, guarded: a rule's URL is user input, and must not reach the platform's
own network.

1. The host is resolved once; if any of its addresses is private, loopback, link-local,
   reserved, multicast, unspecified or otherwise not global, the request is refused
   (`AddressRefused`) unless NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES is on. Every address is
   checked, since a name can resolve to a public and a private one at once.
2. The connection goes to the address that was checked, never to the name again: a second DNS
   lookup could answer differently (DNS rebinding). TLS still verifies the certificate
   against the name (SNI and hostname check), and the Host header carries the name.
3. No redirect is followed (a 3xx is a failed attempt naming where it pointed), and connect
   and read each have NOTIFICATIONS_HTTP_TIMEOUT; at most 64 KiB of the answer is read.
"""
from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings

# what is read of a receiver's answer: enough for an error message, never a flood
MAX_ANSWER_BYTES = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


class AddressRefused(Exception):
    """The URL may not be reached (its scheme, its form, or an address it resolves to)."""


class Unreachable(Exception):
    """The host could not be resolved or reached: a try that may succeed later."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == _DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    latency: float  # seconds, from the connection to the end of what was read


def url_problem(url: str) -> str | None:
    """What is wrong with the form of a webhook URL, or None (nothing is resolved here)."""
    if any(ord(char) < 33 or ord(char) == 127 for char in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if parts.scheme not in _DEFAULT_PORTS:
        return f"must start with http:// or https://, got {parts.scheme or 'no scheme'}"
    if not parts.hostname:
        return "names no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password (user:password@host)"
    if port == 0:
        return "names port 0"
    return None


def blocked_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address may not be reached without NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # the most telling name first: Python counts link-local, unspecified and reserved as private too
    for reason in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(address, f"is_{reason}"):
            return reason.replace("_", "-")
    if not address.is_global:
        return "non-global"  # shared (100.64.0.0/10), documentation and other special ranges
    return None


def resolve(url: str, *, allow_private: bool | None = None) -> Target:
    """The URL's host resolved and checked: AddressRefused for a URL that may not be reached,
    Unreachable when the name does not resolve now."""
    problem = url_problem(url)
    if problem is not None:
        raise AddressRefused(f"the URL {problem}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    if allow_private is None:
        allow_private = settings.NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:  # gaierror is an OSError
        raise Unreachable(f"{host} does not resolve: {exc}") from None
    addresses: list[str] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # an IPv6 zone (%eth0) is not part of the address
        if text not in addresses:
            addresses.append(text)
    if not allow_private:
        for text in addresses:
            reason = blocked_reason(ipaddress.ip_address(text))
            if reason is not None:
                raise AddressRefused(
                    f"{host} resolves to {text}, a {reason} address; webhooks to private addresses are refused "
                    "unless NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES is on")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, tuple(addresses))


def post(target: Target, body: bytes, headers: dict[str, str], *, timeout: float | None = None) -> Answer:
    """POST to the first of the target's checked addresses that accepts a connection;
    Unreachable when none does (or the answer does not come in time)."""
    seconds = settings.NOTIFICATIONS_HTTP_TIMEOUT if timeout is None else timeout
    problems: list[str] = []
    for address in target.addresses:
        started = time.monotonic()
        pool = _pool(target, address, seconds)
        try:
            response = pool.urlopen(
                "POST", target.path, body=body, headers={**headers, "Host": target.host_header},
                redirect=False, retries=False, assert_same_host=False, preload_content=False,
            )
            try:
                data = response.read(MAX_ANSWER_BYTES)
            finally:
                response.release_conn()
            return Answer(response.status, data, {k.lower(): v for k, v in response.headers.items()},
                          time.monotonic() - started)
        except urllib3.exceptions.NewConnectionError as exc:
            problems.append(f"{address}: {_reason(exc)}")
        except urllib3.exceptions.HTTPError as exc:
            # connected, then it failed (a timeout, TLS, a broken answer): another address of
            # the same host would most likely do the same
            raise Unreachable(f"{target.host} ({address}): {_reason(exc)}") from None
        finally:
            pool.close()
    raise Unreachable(f"{target.host}: cannot connect: " + "; ".join(problems))


def _pool(target: Target, address: str, seconds: float) -> urllib3.HTTPConnectionPool:
    timeout = urllib3.Timeout(connect=seconds, read=seconds)
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1,
                                           server_hostname=target.host, assert_hostname=target.host,
                                           cert_reqs="CERT_REQUIRED")
    return urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1)


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "reason", None) or exc)
    # urllib3 starts with its connection's repr ("HTTPConnection(host=..., port=...): "); the
    # address is named already
    return text.split("): ", 1)[1] if text.startswith(("HTTPConnection(", "HTTPSConnection(")) else text
