"""/metrics, /healthz and /readyz, at the site's root where scrapers and probes expect them."""
from __future__ import annotations

from django.urls import URLPattern, path

from observability.health import healthz, readyz
from observability.metrics_view import metrics_view

urlpatterns: list[URLPattern] = [
    path("metrics", metrics_view, name="metrics"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
]
