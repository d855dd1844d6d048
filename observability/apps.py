from __future__ import annotations

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    """What operators and their tools read: /metrics, the health endpoints and checks."""

    name = "observability"
