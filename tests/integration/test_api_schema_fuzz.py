"""Schemathesis against the API's own OpenAPI schema, in process through the WSGI app, signed in
as staff and as an ordinary member: whatever it sends, no answer is a 500, every status code
and body is the one the schema documents.

Bounded: a few examples per operation (FUZZ_EXAMPLES), no example database, no deadline; the
whole module runs in seconds. Half the examples aim at rows that exist (known job, project and
organization ids), so the happy paths are fuzzed too, not only the 404s.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jobs.models import Membership, Organization, Project
from jobs.testing import jobs_recorded
from tests.api_support import make_person
from tests.factories import make_job
from tests.settings import TEST_VAR_DIR

# a deeper run on demand: CONVEYOR_FUZZ_EXAMPLES=500 pytest tests/integration/test_api_schema_fuzz.py
FUZZ_EXAMPLES = int(os.environ.get("CONVEYOR_FUZZ_EXAMPLES", "12"))
# Hypothesis keeps a cache beside the code it tests (./.hypothesis); keep it in the run's folder.
set_hypothesis_home_dir(TEST_VAR_DIR / "hypothesis")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Fixed ids, so that the strategies (built before any fixture runs) can name real rows.
ORG_ID, PROJECT_ID = 7_000_001, 7_000_002
JOB_IDS = [uuid.UUID(int=0xC0FFEE00 + n) for n in range(5)]


@pytest.fixture
def in_process(db: None) -> Iterator[None]:
    """Requests go through the real WSGI handler, which closes "old" database connections as
    each request starts and ends; like Django's test client, unhook that, so that the test's
    transaction survives the requests (and is rolled back after the test)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(in_process: None, settings: Any) -> Iterator[dict[str, str]]:
    """Staff, an admin of one organization, jobs in every status there; API tokens for both."""
    settings.JOBS_QUOTA_PER_MINUTE = 0
    staff = make_person("fuzz-staff", is_staff=True)
    member = make_person("fuzz-member")
    org = Organization.objects.create(pk=ORG_ID, name="Fuzz", slug="fuzz")
    Membership.objects.create(user=member, organization=org, role=Membership.Role.ADMIN)
    project = Project.objects.create(pk=PROJECT_ID, organization=org, name="Fuzzing")
    for job_id, status in zip(JOB_IDS, ["queued", "running", "completed", "failed", "cancelled"]):
        make_job(status, id=job_id, created_by=member, organization=org, project=project, input={"n": 1})
    tokens = {who: AuthToken.objects.create(user=user, expiry=None)[1] for who, user in
              (("staff", staff), ("member", member))}
    with jobs_recorded():  # created jobs are recorded, not sent to the broker
        yield tokens


def _load_schema() -> Any:
    # Loaded when the module is collected (no database needed): schemathesis's lazy
    # `from_fixture` loader does not work with pytest 9 (it rewrites a removed node attribute).
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)


schema = _load_schema()

BOUNDED = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)
KNOWN = {"id": st.sampled_from([str(job_id) for job_id in JOB_IDS]), "projectId": st.just(PROJECT_ID),
         "orgId": st.just(ORG_ID)}


def _aim(case: Any, data: st.DataObject) -> None:
    """Half the time, point the path at rows that exist."""
    if case.path_parameters and data.draw(st.booleans(), label="known ids"):
        for name in list(case.path_parameters):
            if name in KNOWN:
                case.path_parameters[name] = data.draw(KNOWN[name], label=name)


def _fuzz(case: Any, data: st.DataObject, token: str) -> None:
    _aim(case, data)
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@schema.given(data=st.data())
@BOUNDED
def test_fuzz_as_staff(case: Any, data: st.DataObject, world: dict[str, str]) -> None:
    _fuzz(case, data, world["staff"])


@schema.parametrize()
@schema.given(data=st.data())
@BOUNDED
def test_fuzz_as_a_normal_user(case: Any, data: st.DataObject, world: dict[str, str]) -> None:
    _fuzz(case, data, world["member"])
