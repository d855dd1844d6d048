"""POST /api/jobs/bulk: many jobs in one transaction, one quota check for the batch."""
from __future__ import annotations

from typing import Any

import pytest

from jobs.models import Job
from jobs.testing import jobs_recorded
from tests.api_support import client_for, make_person
from tests.factories import make_org


@pytest.fixture
def roomy(settings: Any) -> Any:
    settings.JOBS_QUOTA_PER_MINUTE = 0
    settings.JOBS_QUOTA_PER_HOUR = 10
    settings.JOBS_QUOTA_PER_DAY = 100
    settings.JOBS_QUOTA_STAFF_EXEMPT = True
    return settings


def test_bulk_creates_every_job_and_publishes_them(db: None, roomy: Any,
                                                   django_capture_on_commit_callbacks: Any) -> None:
    client = client_for(make_person())
    with jobs_recorded() as sent, django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/jobs/bulk", {"type": "demo.sleep", "inputs": [{"seconds": n} for n in range(5)],
                                                  "priority": 2}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 5 and len(body["ids"]) == 5
    assert Job.objects.filter(pk__in=body["ids"], priority=2, status="queued").count() == 5
    assert sorted(r.job_id for r in sent) == sorted(body["ids"])


def test_one_bad_input_refuses_the_batch_naming_it(db: None, roomy: Any) -> None:
    client = client_for(make_person())
    response = client.post("/api/jobs/bulk", {"type": "test.schema", "inputs": [
        {"invoice_id": 1, "email": "a@b"}, {"invoice_id": 2}]}, format="json")
    assert response.status_code == 400
    assert "inputs[1]" in response.json()["detail"] and "email" in response.json()["detail"]
    assert Job.objects.count() == 0


def test_the_quota_must_have_room_for_the_whole_batch(db: None, roomy: Any) -> None:
    client = client_for(make_person())
    with jobs_recorded():
        answer = client.post("/api/jobs/bulk", {"type": "demo.sleep", "inputs": [{}] * 8}, format="json")
        assert answer.status_code == 201
        response = client.post("/api/jobs/bulk", {"type": "demo.sleep", "inputs": [{}] * 3}, format="json")
    assert response.status_code == 429 and "Retry-After" in response.headers
    assert "10 job(s) per hour" in response.json()["detail"]
    assert Job.objects.count() == 8


def test_bulk_in_an_organization_you_are_not_in_is_forbidden(db: None, roomy: Any) -> None:
    client = client_for(make_person())
    response = client.post("/api/jobs/bulk", {"type": "demo.sleep", "inputs": [{}], "orgId": make_org().pk},
                           format="json")
    assert response.status_code == 403 and Job.objects.count() == 0


def test_bulk_needs_authentication_and_a_list(db: None, roomy: Any) -> None:
    assert client_for(None).post("/api/jobs/bulk", {"type": "demo.sleep", "inputs": [{}]},
                                 format="json").status_code in (401, 403)
    response = client_for(make_person()).post("/api/jobs/bulk", {"type": "demo.sleep", "inputs": []}, format="json")
    assert response.status_code == 400 and "inputs" in response.json()["detail"]
