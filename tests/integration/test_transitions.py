"""The transition table applied to stored jobs: every (source, target) pair goes through the one
function that writes a status, and a refused pair changes nothing in the row."""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from jobs import services
from jobs.errors import InvalidJobTransition, JobNotFound
from jobs.models import Job
from jobs.states import JobStatus, is_allowed
from tests.factories import make_job

ALL = list(JobStatus.values)

pytestmark = pytest.mark.django_db


def _snapshot(job_id: Any) -> Mapping[str, Any]:
    return Job.objects.filter(pk=job_id).values().get()


@pytest.mark.parametrize(("source", "target"), list(itertools.product(ALL, ALL)))
def test_every_pair(source: str, target: str) -> None:
    job = make_job(status=source)
    before = _snapshot(job.pk)
    if is_allowed(source, target):
        services._transition(job.pk, target=target)
        assert Job.objects.get(pk=job.pk).status == target
    else:
        with pytest.raises(InvalidJobTransition) as caught:
            services._transition(job.pk, target=target)
        assert caught.value.current == source
        assert caught.value.target == target
        assert str(job.pk) in str(caught.value)
        assert f"is {source} and cannot become {target}" in str(caught.value)
        assert _snapshot(job.pk) == before


def test_transition_of_a_missing_job_says_so() -> None:
    with pytest.raises(JobNotFound, match="does not exist"):
        services._transition("00000000-0000-0000-0000-000000000000", target=JobStatus.RUNNING)
