"""Standard Webhooks signatures and the address guard's verdicts, without a database, a broker
or a network: the signature matches the specification's formula computed by hand and the
reference implementation's verification, and every kind of private address is named."""
from __future__ import annotations

import base64
import ipaddress

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from notifications import outbound, signing
from tests.notifications_support import hand_signature

BODY = '{"type":"job.failed","data":{"n":1}}'


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert secret != signing.new_secret()
    assert signing.secret_hint(secret) == secret[:10] + "…" and signing.secret_hint("") == ""


def test_the_headers_sign_id_timestamp_and_body_with_every_secret_given() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    headers = signing.headers(message_id="msg_1", timestamp=1_700_000_000, body=BODY, signing_secrets=[new, old])
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"].split(" ") == [
        hand_signature(secret, "msg_1", "1700000000", BODY.encode()) for secret in (new, old)]


def test_the_reference_implementation_accepts_it_and_refuses_a_change() -> None:
    import time

    secret = signing.new_secret()
    now = int(time.time())
    headers = signing.headers(message_id="msg_2", timestamp=now, body=BODY, signing_secrets=[secret])
    assert Webhook(secret).verify(BODY, headers) == {"type": "job.failed", "data": {"n": 1}}
    for changed_body, changed_headers in ((BODY.replace("1", "2"), headers),
                                          (BODY, {**headers, "webhook-id": "msg_3"}),
                                          (BODY, {**headers, "webhook-timestamp": str(now + 1)})):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(changed_body, changed_headers)


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"),
    ("192.168.1.1", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"), ("240.0.0.1", "reserved"),
    ("100.64.0.1", "non-global"), ("::ffff:127.0.0.1", "loopback"), ("fd00::1", "private"),
    ("93.184.216.34", None), ("2606:4700:4700::1111", None),
])
def test_the_guard_names_why_an_address_is_refused(address: str, reason: str | None) -> None:
    assert outbound.blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(("url", "words"), [
    ("ftp://example.com/", "must start with http:// or https://"),
    ("https:///path", "names no host"),
    ("https://u:p@example.com/", "must not carry a user name or password"),
    ("https://example.com:99999/", "is not a valid URL"),
    ("https://example.com/hook?x=1", None),
])
def test_the_form_of_a_url(url: str, words: str | None) -> None:
    problem = outbound.url_problem(url)
    assert (problem is None) if words is None else (words in (problem or ""))


def test_an_ip_literal_is_refused_without_a_lookup(settings) -> None:
    settings.NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(outbound.AddressRefused, match="10.0.0.1 resolves to 10.0.0.1, a private address"):
        outbound.resolve("http://10.0.0.1/hook")
    settings.NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES = True
    target = outbound.resolve("http://10.0.0.1:8080/hook?x=1")
    assert (target.addresses, target.port, target.path, target.host_header) == (
        ("10.0.0.1",), 8080, "/hook?x=1", "10.0.0.1:8080")
