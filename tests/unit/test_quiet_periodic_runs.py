"""A periodic untracked job's run is logged at INFO only when its result says it did something."""
from __future__ import annotations

from typing import Any

import pytest

from jobs.worker.untracked import did_something


@pytest.mark.parametrize(("result", "expected"), [
    (None, False), ({}, False), ({"deleted": 0, "kept": 0}, False), ({"counts": {"fired": 0}, "sent": []}, False),
    (0, False), (False, False), ("", False),
    ({"deleted": 3, "kept": 0}, True), ({"counts": {"fired": 1}}, True), ([0, 2], True), (True, True), ("ok", True),
])
def test_a_result_of_zeros_and_empties_did_nothing(result: Any, expected: bool) -> None:
    assert did_something(result) is expected
