"""The metric definitions keep Prometheus's conventions, and the recorder's fields round-trip."""
from __future__ import annotations

import pytest

from telemetry import metrics, recorder


def test_every_metric_follows_the_naming_conventions() -> None:
    names = [value.name for value in vars(metrics).values() if isinstance(value, metrics.Metric)]
    assert len(names) == len(set(names)), "two definitions share a name"
    for value in vars(metrics).values():
        if isinstance(value, metrics.Metric):
            assert value.name.startswith("conveyor_")
            assert set(value.labels) <= metrics.LABELS
            assert (value.kind == "counter") == value.name.endswith("_total")
            if value.kind == "histogram":
                assert value.name.endswith("_seconds") and list(value.buckets) == sorted(value.buckets)


@pytest.mark.parametrize("bad", [
    {"name": "conveyor_x_total", "kind": "counter", "help": "", "labels": ("job_id",)},
    {"name": "jobs_total", "kind": "counter", "help": ""},
    {"name": "conveyor_jobs", "kind": "counter", "help": ""},
])
def test_a_definition_that_breaks_a_convention_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        metrics.Metric(**bad)


def test_recording_with_the_wrong_labels_is_refused() -> None:
    with pytest.raises(ValueError, match="takes the labels"):
        metrics.JOBS_CREATED.inc(queue="default")
    with pytest.raises(ValueError, match="takes the labels"):
        metrics.JOBS_CREATED.inc(queue="default", type="t", user="5")


def test_fields_round_trip_whatever_the_label_values_hold() -> None:
    values = ("de|fault", 'odd "type",{}')
    assert recorder.parse_field(recorder.field("conveyor_x_total", values, "b3")) == ("conveyor_x_total", values, "b3")


def test_an_observation_lands_in_the_bucket_whose_bound_it_does_not_exceed() -> None:
    rec = recorder.Recorder()
    rec.thread = object()  # type: ignore[assignment]  # no flush thread: the pending deltas are the subject
    original = recorder._recorder
    recorder._recorder = rec
    try:
        recorder.observe("conveyor_h_seconds", ("q",), 0.5, (0.1, 0.5, 1.0))
        recorder.observe("conveyor_h_seconds", ("q",), 7.0, (0.1, 0.5, 1.0))
    finally:
        recorder._recorder = original
    parts = {recorder.parse_field(key)[2]: value for key, value in rec.pending.items()}
    assert parts == {"b1": 1.0, "b3": 1.0, "sum": 7.5, "count": 2.0}
