"""Real receivers for the notifications tests: an HTTP server on 127.0.0.1 that records every
request and answers with the status codes a test scripts, and an SMTP server (aiosmtpd) that
keeps every message. Both run in the test process, on free ports, and are stopped at teardown.

Tests import the fixtures they use (`receiver`, `smtp_sink`, `private_addresses_allowed`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.processes import wait_for


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


class Receiver:
    """An HTTP server that records each POST and answers the next scripted status (200 once
    the script is used up)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[int] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with owner.lock:
                    status = owner.script.pop(0) if owner.script else 200
                    owner.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                   body, status))
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver says no")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads `requests`; stderr stays quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="test-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/conveyor"

    def answer(self, *statuses: int) -> None:
        with self.lock:
            self.script.extend(statuses)

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    def wait_for_count(self, count: int, timeout: float = 60) -> list[Received]:
        wait_for(lambda: len(self.received()) >= count, timeout=timeout,
                 message=f"{count} request(s) at the receiver (got {len(self.received())})")
        return self.received()

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class SmtpSink:
    """aiosmtpd's Controller on 127.0.0.1, keeping every message it is given."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from config.embedded_redis import free_port

        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                # the default policy unfolds long headers, as a mail reader shows them
                sink.messages.append(message_from_bytes(envelope.original_content or envelope.content,
                                                        policy=policy.default))
                sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                return "250 Message accepted for delivery"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def hand_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """The signature as the Standard Webhooks text defines it, computed here without the library:
    base64(HMAC-SHA256(base64decode(secret without whsec_), "{id}.{timestamp}.{body}"))."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(signed).decode()


def signatures(request: Received) -> list[str]:
    return request.headers["webhook-signature"].split(" ")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def private_addresses_allowed(settings: Any) -> None:
    """The tests' receivers listen on 127.0.0.1: this process may create channels there."""
    settings.NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES = True


def webhook_rule(url: str, *, event: str = "job.failed", throttle: int = 0, digest_size: int = 10,
                 **scope: Any) -> tuple[Any, str]:
    """A platform-wide webhook channel to `url` and a rule sending `event` to it: (rule, secret)."""
    from notifications import services

    made = services.channel_create(name="receiver", kind="webhook", url=url)
    rule = services.rule_create(name=f"{event} to the receiver", event=event, channels=[made.channel],
                                throttle_seconds=throttle, digest_size=digest_size, **scope)
    return rule, made.secret
