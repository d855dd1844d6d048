"""The transition table and the status names, as data: no job is stored here (the table applied
to stored jobs is tests/integration/test_transitions.py)."""
from __future__ import annotations

import pytest

from jobs.states import ALLOWED_FROM, STATUS_ALIASES, JobStatus, parse_status

ALL = list(JobStatus.values)


def test_table_covers_every_status() -> None:
    assert set(ALLOWED_FROM) == set(ALL)
    for target, sources in ALLOWED_FROM.items():
        assert sources <= set(ALL), target
    # every status can be reached, and completed is the only one never left
    left = {s for sources in ALLOWED_FROM.values() for s in sources}
    assert set(ALL) - left == {JobStatus.COMPLETED}


@pytest.mark.parametrize(("raw", "expected"), [
    ("pending", "queued"), ("Processing", "running"), ("finished", "completed"), ("ERROR", "failed"),
    ("Queued", "queued"), ("Running", "running"), ("Cancelled", "cancelled"), ("canceled", "cancelled"),
])
def test_status_aliases(raw: str, expected: str) -> None:
    assert parse_status(raw) == expected


def test_unknown_status_names_the_value() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        parse_status("nope")
    assert set(STATUS_ALIASES.values()) <= set(ALL)
