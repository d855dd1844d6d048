"""Quotas and size limits: per user 10 jobs an hour, 100 a day, 1 a minute, inputs of
at most 1 MB; per organization when it says so; staff exempt. Refusals answer 429 with
Retry-After (or 413) and create nothing, and the count holds under concurrent requests."""
from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from api.parsers import RequestBodyTooLarge
from jobs import quotas
from jobs.api.parsers import JobInputJSONParser
from jobs.models import Job, Organization
from jobs.testing import jobs_recorded
from tests.api_support import client_for, make_person
from tests.factories import make_job, make_membership, make_org
from tests.processes import wait_for


@pytest.fixture
def limits(settings: Any) -> Any:
    """The documented quotas and size limits, whatever the environment says."""
    settings.JOBS_QUOTA_PER_MINUTE = 1
    settings.JOBS_QUOTA_PER_HOUR = 10
    settings.JOBS_QUOTA_PER_DAY = 100
    settings.JOBS_QUOTA_STAFF_EXEMPT = True
    settings.JOBS_MAX_PAYLOAD_BYTES = 1024 * 1024
    settings.JOBS_API_MAX_BODY_BYTES = 1024 * 1024 + 64 * 1024
    return settings


def create(client: Any, path: str = "/api/jobs", **body: Any) -> Any:
    return client.post(path, {"type": "demo.sleep", **body}, format="json")


def assert_quota_refusal(response: Any, limit: int, period: str, source: str) -> int:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "quota_exceeded"
    assert f"at most {limit} job(s) per {period}" in body["detail"] and source in body["detail"]
    wait = int(response["Retry-After"])
    assert wait == body["retryAfter"] and wait >= 1
    assert f"the next job fits in {wait} s" in body["detail"]
    return wait


def test_the_11th_job_in_an_hour_is_refused_with_retry_after(db: None, limits: Any) -> None:
    limits.JOBS_QUOTA_PER_MINUTE = 0  # the hourly limit alone
    user = make_person()
    client = client_for(user)
    for n in range(10):
        assert create(client).status_code == 201, n
    refused = create(client)
    wait = assert_quota_refusal(refused, 10, "hour", "JOBS_QUOTA_PER_HOUR")
    assert 3590 <= wait <= 3600  # the first job leaves the window an hour after it was made
    assert Job.objects.filter(created_by=user).count() == 10
    # the window slides: once the oldest job is an hour old, one more fits, and only one
    oldest = Job.objects.filter(created_by=user).order_by("created_at").first()
    assert oldest is not None
    Job.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(minutes=61))
    assert create(client).status_code == 201
    assert create(client).status_code == 429


def test_one_job_a_minute(db: None, limits: Any) -> None:
    client = client_for(make_person())
    assert create(client).status_code == 201
    wait = assert_quota_refusal(create(client), 1, "minute", "JOBS_QUOTA_PER_MINUTE")
    assert 55 <= wait <= 60
    assert Job.objects.count() == 1


def test_a_hundred_a_day(db: None, limits: Any) -> None:
    limits.JOBS_QUOTA_PER_MINUTE = limits.JOBS_QUOTA_PER_HOUR = 0
    user = make_person()
    now = timezone.now()
    for n in range(100):  # made over the last day, by any path (they count too)
        make_job("completed", created_by=user, created_at=now - timedelta(hours=23, minutes=50) + timedelta(minutes=n))
    wait = assert_quota_refusal(create(client_for(user)), 100, "day", "JOBS_QUOTA_PER_DAY")
    assert 9 * 60 <= wait <= 10 * 60  # when the oldest leaves the day
    assert Job.objects.count() == 100


def test_the_longest_wait_is_reported_when_several_limits_are_full(db: None, limits: Any) -> None:
    limits.JOBS_QUOTA_PER_HOUR = 2
    user = make_person()
    make_job("queued", created_by=user, created_at=timezone.now() - timedelta(minutes=30))
    client = client_for(user)
    assert create(client).status_code == 201
    wait = assert_quota_refusal(create(client), 2, "hour", "JOBS_QUOTA_PER_HOUR")  # not the minute's 60 s
    assert 29 * 60 <= wait <= 30 * 60


def test_organizations_set_their_own_quotas(db: None, limits: Any) -> None:
    limits.JOBS_QUOTA_PER_MINUTE = 0
    user = make_person()
    org = make_org("Tight")
    Organization.objects.filter(pk=org.pk).update(jobs_per_hour=2)
    make_membership(user, org)
    client = client_for(user)
    path = f"/api/v1/orgs/{org.pk}/jobs"
    assert create(client, path).status_code == 201
    assert create(client, path).status_code == 201
    assert_quota_refusal(create(client, path), 2, "hour", f"jobs_per_hour of organization {org.slug}")
    assert_quota_refusal(create(client, orgId=org.pk), 2, "hour", "jobs_per_hour")  # the same scope
    # outside the organization the user has the platform's quota, counted apart
    assert create(client).status_code == 201
    # 0 lifts a limit for the organization's members
    Organization.objects.filter(pk=org.pk).update(jobs_per_hour=0)
    assert create(client, path).status_code == 201
    assert Job.objects.filter(organization=org).count() == 3


def test_staff_are_exempt_by_setting(db: None, limits: Any) -> None:
    staff = make_person(is_staff=True)
    client = client_for(staff)
    for _ in range(12):
        assert create(client).status_code == 201
    assert client.get("/api/quotas/me").json()["exempt"] is True
    limits.JOBS_QUOTA_STAFF_EXEMPT = False
    assert_quota_refusal(create(client), 10, "hour", "JOBS_QUOTA_PER_HOUR")  # the longest wait of the full ones
    assert Job.objects.count() == 12


def test_quotas_me_reports_usage_and_the_wait(db: None, limits: Any) -> None:
    user = make_person()
    client = client_for(user)
    assert create(client).status_code == 201
    scope = client.get("/api/quotas/me").json()["scopes"][0]
    assert scope["used"] == {"perMinute": 1, "perHour": 1, "perDay": 1}
    assert scope["remaining"] == {"perMinute": 0, "perHour": 9, "perDay": 99}
    assert 55 <= scope["retryAfter"] <= 60


# --- sizes ---------------------------------------------------------------------------------------


def payload_of(size: int) -> dict[str, str]:
    """An input whose compact JSON is exactly `size` bytes: {"data":"xxx..."}."""
    return {"data": "x" * (size - len('{"data":""}'))}


def test_an_input_of_1_mb_is_accepted_and_1_mb_plus_1_byte_answers_413(db: None, limits: Any) -> None:
    limits.JOBS_QUOTA_PER_MINUTE = 0
    client = client_for(make_person())
    one_mb = 1024 * 1024
    assert create(client, input=payload_of(one_mb)).status_code == 201
    response = create(client, input=payload_of(one_mb + 1))
    assert response.status_code == 413
    assert response.json() == {"detail": f"input: payload is {one_mb + 1} bytes, over the limit of {one_mb} bytes",
                               "code": "payload_too_large", "field": "input"}
    assert Job.objects.count() == 1


def test_a_body_over_the_limit_answers_413_before_it_is_parsed(db: None, limits: Any) -> None:
    client = client_for(make_person())
    limit = limits.JOBS_API_MAX_BODY_BYTES
    body = b'{"type": "demo.sleep", "input": {"data": "' + b"x" * limit + b'"}}'
    response = client.post("/api/jobs", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["detail"] == (f"request body: {len(body)} bytes, over the limit of {limit} bytes "
                                         "(JOBS_API_MAX_BODY_BYTES)")
    assert Job.objects.count() == 0


def test_a_body_over_djangos_own_limit_answers_413_too(db: None, limits: Any, settings: Any) -> None:
    """Over DATA_UPLOAD_MAX_MEMORY_SIZE (smaller than the API's limit here) Django refuses to
    read the body; the answer is the API's 413, not Django's bare 400."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = create(client_for(make_person()), input=payload_of(2000))
    assert response.status_code == 413
    assert response.json() == {"detail": "request body: over the limit of 1000 bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)",
                               "code": "request_too_large"}
    assert Job.objects.count() == 0


def test_a_declared_length_over_the_limit_is_refused_before_anything_else(db: None, limits: Any) -> None:
    """Not even authentication runs: 413 for an anonymous request as for anyone."""
    body = '{"type": "demo.sleep"}'
    response = APIClient().generic("POST", "/api/jobs", body, content_type="application/json",
                                   CONTENT_LENGTH=str(limits.JOBS_API_MAX_BODY_BYTES + 1))
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"


def test_the_parser_reads_no_more_than_the_limit_without_a_content_length(settings: Any) -> None:
    """A body whose length is not declared (or is declared wrongly) is cut at the limit."""
    settings.JOBS_API_MAX_BODY_BYTES = 100
    stream = io.BytesIO(b'{"a": "' + b"x" * 10_000 + b'"}')
    with pytest.raises(RequestBodyTooLarge):
        JobInputJSONParser().parse(stream, "application/json", {})
    assert stream.tell() == 101
    assert JobInputJSONParser().parse(io.BytesIO(b'{"a": 1}'), "application/json", {}) == {"a": 1}


def test_an_organization_may_lower_the_payload_limit(db: None, limits: Any) -> None:
    user = make_person()
    org = make_org()
    Organization.objects.filter(pk=org.pk).update(max_payload_bytes=1000)
    make_membership(user, org)
    response = create(client_for(user), f"/api/v1/orgs/{org.pk}/jobs", input=payload_of(1001))
    assert response.status_code == 413 and "over the limit of 1000 bytes" in response.json()["detail"]
    assert Job.objects.count() == 0


# --- concurrency -----------------------------------------------------------------------------------


def _burst(clients: list[Any], body: dict[str, Any]) -> list[int]:
    """Every client posts at the same moment, each from its own thread (and database connection)."""
    barrier = threading.Barrier(len(clients))
    codes: list[int] = []
    errors: list[BaseException] = []

    def post(client: Any) -> None:
        try:
            barrier.wait(timeout=10)
            codes.append(client.post("/api/jobs", body, format="json").status_code)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return sorted(codes)


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_requests_takes_exactly_the_quota(limits: Any) -> None:
    """Eight requests at once for three units, on either database; whether they overlap is up
    to the scheduler, so the proof that they serialize is the handshake test below."""
    limits.JOBS_QUOTA_PER_MINUTE, limits.JOBS_QUOTA_PER_HOUR = 0, 3
    user = make_person()
    with jobs_recorded():
        codes = _burst([client_for(user) for _ in range(8)], {"type": "demo.sleep"})
    assert codes == [201] * 3 + [429] * 5
    assert Job.objects.filter(created_by=user).count() == 3


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _blocking_pids(pid: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_blocking_pids(%s)", [pid])
        return list(cursor.fetchone()[0])


@dataclass
class LastUnitRace:
    """Two requests for the last unit of a quota: `first` pauses right after counting, inside
    its transaction, until `release`; `second` is sent only then."""

    first_counted: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    second_counted: threading.Event = field(default_factory=threading.Event)
    pids: dict[str, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    errors: list[BaseException] = field(default_factory=list)

    def counted(self, count: Callable[..., quotas.QuotaStatus]) -> Callable[..., quotas.QuotaStatus]:
        """quota_status, with the handshake around it."""

        def count_then_hold(**kwargs: Any) -> quotas.QuotaStatus:
            status = count(**kwargs)
            name = threading.current_thread().name
            if name == "first":
                self.pids["first"] = _backend_pid()  # the connection that holds the lock, if any
                self.first_counted.set()
                if not self.release.wait(timeout=60):
                    raise RuntimeError("the test never released the first request")
            elif name == "second":
                self.second_counted.set()
            return status

        return count_then_hold

    def post(self, client: APIClient) -> None:
        name = threading.current_thread().name
        try:
            if name == "second":
                self.pids["second"] = _backend_pid()  # the request runs on this thread's connection
            self.codes[name] = create(client).status_code
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.errors.append(exc)
        finally:
            connections.close_all()

    def run(self, user: Any) -> bool:
        """Race the two requests; True when the second was seen blocked by the first's
        transaction, False when it counted while the first still held its count."""
        first = threading.Thread(target=self.post, args=(client_for(user),), name="first")
        second = threading.Thread(target=self.post, args=(client_for(user),), name="second")
        try:
            first.start()
            assert self.first_counted.wait(timeout=30), f"the first request never counted: {self.errors}"
            second.start()
            # Ends on a state, not a delay: the second request either waits for a lock the
            # first one holds (PostgreSQL says so) or gets past the lock to its own count.
            wait_for(lambda: self.second_counted.is_set() or self.errors or (
                "second" in self.pids and self.pids["first"] in _blocking_pids(self.pids["second"])),
                timeout=30, interval=0.02, message="the second request to block or to count")
            return not self.second_counted.is_set() and not self.errors
        finally:
            self.release.set()
            first.join(timeout=60)
            second.join(timeout=60)


@pytest.fixture
def last_unit_race(limits: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, LastUnitRace]]:
    """A user with two of their three units used (which also makes their quota's lock row), and
    the race for the third."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite transactions begin IMMEDIATE: the second request waits for the database file, "
                    "not for the quota's row lock, and cannot be seen waiting; runs in .ci/run's PostgreSQL pass")
    limits.JOBS_QUOTA_PER_MINUTE, limits.JOBS_QUOTA_PER_HOUR = 0, 3
    user = make_person()
    race = LastUnitRace()
    with jobs_recorded():
        client = client_for(user)
        assert [create(client).status_code for _ in range(2)] == [201, 201]
        monkeypatch.setattr(quotas, "quota_status", race.counted(quotas.quota_status))
        yield user, race


@pytest.mark.django_db(transaction=True)
def test_a_request_for_the_last_unit_waits_for_the_one_counting_and_is_refused(last_unit_race: Any) -> None:
    user, race = last_unit_race
    blocked = race.run(user)
    assert not race.errors, race.errors
    assert blocked, "the second request counted while the first held its count uncommitted: nothing serializes them"
    assert race.codes == {"first": 201, "second": 429}
    assert Job.objects.filter(created_by=user).count() == 3


@pytest.mark.django_db(transaction=True)
def test_without_the_lock_both_requests_take_the_last_unit(last_unit_race: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above can fail: with the row lock taken away, the second request counts while
    the first one holds its count, and both create a job."""
    user, race = last_unit_race
    monkeypatch.setattr(quotas, "quota_lock", lambda **kwargs: None)
    assert race.run(user) is False
    assert not race.errors, race.errors
    assert race.codes == {"first": 201, "second": 201}
    assert Job.objects.filter(created_by=user).count() == 4
