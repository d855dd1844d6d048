"""Failures grouped by error: what varies per job is replaced, the class and wording are kept."""
from __future__ import annotations

from jobs.error_groups import error_group, normalised


def test_errors_that_differ_only_in_their_values_share_a_group() -> None:
    assert error_group("ValueError: customer 42 not found") == error_group("ValueError: customer 97 not found")
    assert error_group("KeyError: 'email'") == error_group("KeyError: 'name'")
    assert error_group("TimeoutError: 10.0.0.7:5432 after 30.5 s") == error_group("TimeoutError: 10.1.2.3 after 2 s")
    job = "job 3f2a9c1e-0000-4000-8000-000000000001 lost"
    assert error_group(job) == error_group(job.replace("3f2a9c1e", "aaaaaaaa"))


def test_the_class_and_the_words_keep_groups_apart() -> None:
    assert error_group("ValueError: bad date") != error_group("TypeError: bad date")
    assert error_group("ValueError: bad date") != error_group("ValueError: bad email")


def test_only_the_first_line_counts_and_no_error_has_no_group() -> None:
    assert error_group("OSError: disk full\nTraceback ...\n  line 3") == error_group("OSError: disk full\nother")
    assert normalised("\n\n  RuntimeError: row 12 failed  \n") == "RuntimeError: row <n> failed"
    assert error_group("") == ""
    assert len(error_group("x")) == 32
