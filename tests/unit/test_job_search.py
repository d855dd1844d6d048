"""The job list's search words read into filters (`jobs.selectors.search_syntax`), without a
database; the queryset they build is tests/integration/test_console_job_list.py."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from jobs.selectors.search_syntax import (
    IdRange,
    InputMatch,
    JobSearch,
    SearchError,
    id_range,
    parse_search,
    parse_time_range,
)


def problems(text: str) -> list[str]:
    with pytest.raises(SearchError) as caught:
        parse_search(text)
    return caught.value.problems


# --- ids ----------------------------------------------------------------------------------------


def test_a_whole_id_is_one_id_with_or_without_dashes() -> None:
    job_id = uuid.uuid4()
    for written in (str(job_id), job_id.hex, str(job_id).upper()):
        assert parse_search(written).ids == (IdRange(job_id, job_id),)


def test_an_id_prefix_is_the_range_of_ids_it_starts() -> None:
    span = id_range("3f2a9c")
    assert span == IdRange(uuid.UUID("3f2a9c00-0000-0000-0000-000000000000"),
                           uuid.UUID("3f2a9cff-ffff-ffff-ffff-ffffffffffff"))
    # written as the list shows it, dashes included
    assert id_range("3f2a9c1e-5b") == IdRange(uuid.UUID("3f2a9c1e-5b00-0000-0000-000000000000"),
                                              uuid.UUID("3f2a9c1e-5bff-ffff-ffff-ffffffffffff"))
    assert parse_search("id:3F2A9C").ids == (span,)


def test_every_id_in_a_range_starts_with_the_prefix() -> None:
    span = id_range("abcd0")
    for job_id in (span.low, span.high):
        assert job_id.hex.startswith("abcd0")
    outside = uuid.UUID("abcd1000-0000-0000-0000-000000000000")
    assert not span.low <= outside <= span.high


@pytest.mark.parametrize(("word", "says"), [
    ("abc", "too short for an id prefix: give at least 4 hex digits"),
    ("3f-2a9c", "a dash is only at positions 9, 14, 19 and 24"),
    ("3f2a9c1e5b00000000000000000000001", "longer than a job id"),
    ("id:3f2g", "is not a job id: a job id is hex digits"),
])
def test_a_malformed_id_is_named(word: str, says: str) -> None:
    [problem] = problems(word)
    assert says in problem and repr(word) in problem


def test_a_free_word_that_is_not_an_id_suggests_a_key() -> None:
    [problem] = problems("demo.sleep")
    assert "'demo.sleep' is not a job id" in problem and "type:demo.sleep" in problem
    [problem] = problems('"disk full"')
    assert 'error:"disk full"' in problem


# --- keys ---------------------------------------------------------------------------------------


def test_every_key_combines() -> None:
    search = parse_search(
        'type:demo.sleep status:failed queue:default dedup:attachment-42 error:"disk full" '
        "input.customer_id=42 org:acme project:12 by:alice 3f2a9c"
    )
    assert search == JobSearch(
        ids=(id_range("3f2a9c"),), types=("demo.sleep",), statuses=("failed",), queues=("default",),
        dedup_keys=("attachment-42",), errors=("disk full",),
        inputs=(InputMatch(path=("customer_id",), text="42"),), orgs=("acme",), projects=("12",),
        creators=("alice",),
    )
    assert search.reads_rows


def test_indexed_keys_alone_read_no_rows() -> None:
    search = parse_search("type:demo.sleep status:failed org:acme project:12 by:alice 3f2a9c")
    assert not search.reads_rows
    assert parse_search("").is_empty and parse_search("   ").is_empty


def test_repeated_keys_and_commas_list_values() -> None:
    search = parse_search("status:failed,cancelled status:pending type:a type:b,a")
    assert search.statuses == ("failed", "cancelled", "queued")
    assert search.types == ("a", "b")
    # a dedup key or an error text keeps its commas
    assert parse_search("dedup:a,b error:x,y").dedup_keys == ("a,b",)
    assert parse_search("dedup:a,b error:x,y").errors == ("x,y",)


def test_keys_take_any_case_aliases_and_an_equals_sign() -> None:
    search = parse_search("STATUS=Finished Organization:acme creator:bob")
    assert search.statuses == ("completed",) and search.orgs == ("acme",) and search.creators == ("bob",)


def test_quoted_values_keep_spaces_colons_and_escaped_quotes() -> None:
    search = parse_search(r'error:"disk full: /var \"data\"" dedup:"a b"')
    assert search.errors == ('disk full: /var "data"',)
    assert search.dedup_keys == ("a b",)


def test_a_value_may_hold_a_colon() -> None:
    assert parse_search("dedup:attachment:42").dedup_keys == ("attachment:42",)


@pytest.mark.parametrize(("text", "says"), [
    ("colour:red", "unknown key 'colour'; known keys: id:, type:"),
    ("status:sleeping", "unknown status 'sleeping'"),
    ("type:", "type: needs a value"),
    ("status:failed,,queued", "an empty value between commas"),
    ('error:"disk full', "a quote is not closed"),
    ("input=3", "name the input field"),
    ("input.a..b=3", "name the input field"),
    ("input.customer_id=", "needs a value"),
])
def test_each_bad_word_is_named(text: str, says: str) -> None:
    [problem] = problems(text)
    assert says in problem, problem


def test_every_bad_word_is_reported_at_once() -> None:
    found = problems("status:nope colour:red type:ok abc")
    assert len(found) == 3
    assert any("'status:nope'" in p for p in found) and any("'colour:red'" in p for p in found)
    assert any("'abc'" in p for p in found)


# --- input fields ---------------------------------------------------------------------------------


def test_an_input_field_path_and_what_its_value_may_be() -> None:
    [match] = parse_search("input.customer.id=42").inputs
    assert match.path == ("customer", "id")
    assert match.candidates() == ["42", 42]
    assert InputMatch(("x",), "4.5").candidates() == ["4.5", 4.5]
    assert InputMatch(("x",), "true").candidates() == ["true", True]
    assert InputMatch(("x",), "null").candidates() == ["null", None]
    assert InputMatch(("x",), "alice").candidates() == ["alice"]
    assert InputMatch(("x",), "nan").candidates() == ["nan"]  # not a JSON number


def test_a_quoted_input_value_is_text_only() -> None:
    [match] = parse_search('input.customer_id="42"').inputs
    assert match.quoted and match.candidates() == ["42"]
    [empty] = parse_search('input.note=""').inputs
    assert empty.candidates() == [""]


def test_an_input_field_named_like_a_lookup_is_still_a_field() -> None:
    [match] = parse_search("input.contains=1").inputs
    assert match.path == ("contains",)


# --- the time range -------------------------------------------------------------------------------


def test_time_range_reads_iso_8601() -> None:
    since, until = parse_time_range("2024-05-01T12:00:00Z", "2024-05-01T15:30:00+02:00")
    assert since == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert until == datetime(2024, 5, 1, 15, 30, tzinfo=timezone(timedelta(hours=2)))
    # a date alone is its midnight; no offset is UTC
    assert parse_time_range("2024-05-01", None) == (datetime(2024, 5, 1, tzinfo=UTC), None)
    assert parse_time_range(None, "2024-05-01T10:00") == (None, datetime(2024, 5, 1, 10, tzinfo=UTC))
    assert parse_time_range(None, None) == (None, None)
    assert parse_time_range("", " ") == (None, None)


def test_an_offset_whose_plus_became_a_space_in_the_url() -> None:
    since, _ = parse_time_range("2024-05-01T12:00:00 02:00", None)
    assert since == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_a_bad_time_range_names_the_parameter() -> None:
    with pytest.raises(SearchError) as caught:
        parse_time_range("yesterday", "2024-13-01")
    assert len(caught.value.problems) == 2
    assert "created__gte='yesterday' is not a date and time in ISO 8601" in caught.value.problems[0]
    assert "created__lt='2024-13-01'" in caught.value.problems[1]
    with pytest.raises(SearchError, match=r"created__gte \(2024-05-02T00:00:00Z\) must be before created__lt"):
        parse_time_range("2024-05-02", "2024-05-01")


def test_a_failure_group_is_read_as_32_hex_digits() -> None:
    key = "0123456789abcdef0123456789ABCDEF"
    assert parse_search(f"group:{key} status:failed").error_groups == (key,)
    with pytest.raises(SearchError, match="an error group is 32 hex digits"):
        parse_search("group:xyz")
