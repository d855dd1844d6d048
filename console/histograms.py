"""Fixed histograms of seconds, as the time buckets keep them: a list of counts, one per bound of
`telemetry.metrics.DURATION_BUCKETS` (a value <= that bound and > the one before) and a last one
for values above every bound. The same bounds as the Prometheus histograms, so that the console's
percentiles and a dashboard's `histogram_quantile` read alike.

Histograms add up bucket by bucket; a quantile is interpolated inside the bucket it falls in, as
Prometheus does (the lower edge of the first bucket is 0; a quantile in the last, unbounded
bucket is reported as the highest bound, with `above` set).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from telemetry.metrics import DURATION_BUCKETS

BOUNDS: tuple[float, ...] = DURATION_BUCKETS
SIZE = len(BOUNDS) + 1


def empty() -> list[int]:
    return [0] * SIZE


def index_of(seconds: float) -> int:
    """The bucket a value falls in (the last one above every bound)."""
    for index, bound in enumerate(BOUNDS):
        if seconds <= bound:
            return index
    return len(BOUNDS)


def add(total: list[int], counts: Sequence[int] | None) -> list[int]:
    """Add `counts` into `total` (in place) and return it; a missing or short list adds what it has."""
    for index, count in enumerate((counts or [])[:SIZE]):
        total[index] += int(count)
    return total


def summed(histograms: Iterable[Sequence[int] | None]) -> list[int]:
    total = empty()
    for counts in histograms:
        add(total, counts)
    return total


@dataclass(frozen=True)
class Quantile:
    seconds: float
    # the quantile fell in the unbounded last bucket: the value is "more than `seconds`"
    above: bool = False


def quantile(q: float, counts: Sequence[int]) -> Quantile | None:
    """The q-quantile (0 < q < 1) of a histogram, interpolated linearly in its bucket; None when
    the histogram is empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(BOUNDS):
                return Quantile(BOUNDS[-1], above=True)
            lower = BOUNDS[index - 1] if index > 0 else 0.0
            upper = BOUNDS[index]
            return Quantile(lower + (upper - lower) * (rank - seen) / count)
        seen += count
    return Quantile(BOUNDS[-1], above=True)  # unreachable for q <= 1; a float's rounding


def percentiles(counts: Sequence[int]) -> dict[str, Quantile | None]:
    """p50, p95 and p99 of a histogram."""
    return {"p50": quantile(0.50, counts), "p95": quantile(0.95, counts), "p99": quantile(0.99, counts)}
