"""Every test of this tier runs with the suite's Redis up and its queues purged."""
from __future__ import annotations

import pytest

from tests.browser_support import chromium, launcher  # noqa: F401  (the browser tests' fixtures)


@pytest.fixture(autouse=True)
def _broker(broker: str) -> str:
    return broker
