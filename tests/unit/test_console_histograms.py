"""The console's histograms and settings, with no database: buckets by the metrics' bounds,
quantiles interpolated as Prometheus does, JOBS_CONSOLE_REFRESH_SECONDS read and refused when bad,
and the job list's links written with ISO 8601 times in UTC."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from console import conf, histograms, presenters
from telemetry.metrics import DURATION_BUCKETS


def test_the_buckets_are_the_metrics_ones_plus_one_above() -> None:
    assert histograms.BOUNDS == DURATION_BUCKETS
    assert len(histograms.empty()) == len(DURATION_BUCKETS) + 1
    assert histograms.index_of(0) == 0
    assert histograms.index_of(0.005) == 0  # a bound belongs to its own bucket (le)
    assert histograms.index_of(0.0051) == 1
    assert histograms.index_of(3600) == len(DURATION_BUCKETS) - 1
    assert histograms.index_of(3600.1) == len(DURATION_BUCKETS)


def test_histograms_add_bucket_by_bucket() -> None:
    one = histograms.empty()
    one[2] = 3
    two = histograms.empty()
    two[2], two[5] = 1, 4
    assert histograms.summed([one, two, None, [1]]) == [1, 0, 4, 0, 0, 4] + [0] * (histograms.SIZE - 6)


def test_quantiles_are_interpolated_in_their_bucket() -> None:
    counts = histograms.empty()
    counts[histograms.index_of(0.3)] = 90  # (0.25, 0.5]
    counts[histograms.index_of(4.0)] = 10  # (2.5, 5]
    assert histograms.quantile(0.5, counts) == histograms.Quantile(0.25 + 0.25 * 50 / 90)
    high = histograms.quantile(0.95, counts)
    assert high is not None and high.seconds == pytest.approx(2.5 + 2.5 * 5 / 10) and not high.above
    first = histograms.empty()
    first[0] = 4
    assert histograms.quantile(0.5, first) == histograms.Quantile(0.0025)  # from 0 to the first bound
    assert histograms.quantile(0.5, histograms.empty()) is None


def test_a_quantile_above_every_bound_says_so() -> None:
    counts = histograms.empty()
    counts[-1] = 1
    assert histograms.quantile(0.99, counts) == histograms.Quantile(3600.0, above=True)
    assert presenters.quantile_text([3600.0, True]) == "> 1h00m"


def test_the_refresh_time_comes_from_the_settings_with_a_default() -> None:
    assert conf.refresh_seconds() == 5.0
    with override_settings(JOBS_CONSOLE_REFRESH_SECONDS="2.5"):
        assert conf.refresh_seconds() == 2.5
    for bad in ("soon", "-1", "nan"):
        with override_settings(JOBS_CONSOLE_REFRESH_SECONDS=bad), pytest.raises(ImproperlyConfigured) as caught:
            conf.refresh_seconds()
        assert "JOBS_CONSOLE_REFRESH_SECONDS" in str(caught.value) and bad in str(caught.value)


@override_settings(JOBS_CONSOLE_REFRESH_SECONDS=10)
def test_the_refresh_time_comes_from_the_settings() -> None:
    assert conf.refresh_seconds() == 10.0


def test_times_and_durations_read_alike_everywhere() -> None:
    moment = datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC).timestamp()
    assert presenters.moment_iso(moment) == "2026-11-30T12:00:05Z"
    assert presenters.age_text(moment, moment + 65) == "1m05s ago"
    assert presenters.age_text(moment, moment - 3) == "in 3.0s"
    assert presenters.seconds_text(0.25) == "250ms" and presenters.seconds_text(None) == "-"


def test_links_to_the_job_list_carry_the_time_range_in_utc() -> None:
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    url = presenters.job_list_url(created__gte=start, created__lt=start.timestamp() + 900, queue=None, type="a.b")
    assert url == "/admin/jobs/job/?created__gte=2026-11-30T12%3A00%3A00Z&created__lt=2026-11-30T12%3A15%3A00Z&type=a.b"


def test_a_bad_refresh_time_fails_the_system_checks() -> None:
    from console.checks import check_settings

    assert check_settings() == []
    with override_settings(JOBS_CONSOLE_REFRESH_SECONDS="soon"):
        [error] = check_settings()
    assert error.id == "console.E001" and "JOBS_CONSOLE_REFRESH_SECONDS='soon'" in error.msg
