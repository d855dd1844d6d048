"""The transition table, walked pair by pair through the one function that applies it."""
import itertools

import pytest

from jobs import services
from jobs.errors import InvalidJobTransition, JobNotFound
from jobs.models import Job
from jobs.states import STATUS_ALIASES, ALLOWED_FROM, JobStatus, is_allowed, parse_status
from tests.factories import make_job

ALL = list(JobStatus.values)


def test_table_covers_every_status():
    assert set(ALLOWED_FROM) == set(ALL)
    for target, sources in ALLOWED_FROM.items():
        assert sources <= set(ALL), target
    # every status can be reached, and completed is the only one never left
    left = {s for sources in ALLOWED_FROM.values() for s in sources}
    assert set(ALL) - left == {JobStatus.COMPLETED}


def _snapshot(job_id):
    return Job.objects.filter(pk=job_id).values().get()


@pytest.mark.django_db
@pytest.mark.parametrize("source,target", list(itertools.product(ALL, ALL)))
def test_every_pair(source, target):
    job = make_job(status=source)
    before = _snapshot(job.pk)
    if is_allowed(source, target):
        services._transition(job.pk, target=target)
        assert Job.objects.get(pk=job.pk).status == target
    else:
        with pytest.raises(InvalidJobTransition) as caught:
            services._transition(job.pk, target=target)
        assert caught.value.current == source and caught.value.target == target
        assert str(job.pk) in str(caught.value)
        assert f"is {source} and cannot become {target}" in str(caught.value)
        assert _snapshot(job.pk) == before


@pytest.mark.django_db
def test_transition_of_a_missing_job_says_so():
    with pytest.raises(JobNotFound, match="does not exist"):
        services._transition("00000000-0000-0000-0000-000000000000", target=JobStatus.RUNNING)


@pytest.mark.parametrize("raw,expected", [
    ("pending", "queued"), ("Processing", "running"), ("finished", "completed"), ("ERROR", "failed"),
    ("Queued", "queued"), ("Running", "running"), ("Cancelled", "cancelled"), ("canceled", "cancelled"),
])
def test_status_aliases(raw, expected):
    assert parse_status(raw) == expected


def test_unknown_status_names_the_value():
    with pytest.raises(ValueError, match="'nope'"):
        parse_status("nope")
    assert set(STATUS_ALIASES.values()) <= set(ALL)
