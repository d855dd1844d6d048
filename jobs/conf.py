"""The platform's JOBS_* settings, typed: `conf.heartbeat_timeout` reads JOBS_HEARTBEAT_TIMEOUT.

Each read goes to django.conf.settings at that moment, so `override_settings` in tests and
settings changed at start-up apply; the names and defaults are documented in
docs/configuration.md and set (from environment variables) in config/settings.py.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings


class JobsSettings:
    max_payload_bytes: int
    default_queue: str
    queues: list[str]
    default_priority: int
    default_max_attempts: int
    backoff_base: float
    backoff_factor: float
    backoff_max: float
    backoff_jitter: bool
    broker_countdown_max: float
    heartbeat_interval: float
    heartbeat_timeout: float
    rescue_interval: float
    max_rescues: int
    sweep_interval: float
    sweep_overtaken_after: float
    sweep_unclaimed_after: float
    progress_min_interval: float
    shutdown_grace: float
    worker_synchronous_commit: bool
    prepared_statements: bool
    publish_max_retries: int
    hard_timeout_grace: float
    cancel_grace: float
    dispatch_mode: str
    handler_modules: list[str]
    system_queue: str
    keep_completed_days: float
    keep_failed_days: float
    cleanup_batch_size: int
    schedule_check_interval: float
    schedule_misfire_grace: float
    schedule_min_interval: float
    schedules_disabled: list[str]
    quota_per_minute: int
    quota_per_hour: int
    quota_per_day: int
    quota_staff_exempt: bool
    api_max_body_bytes: int
    api_bulk_max: int
    api_exact_total_max: int
    api_token_days: int
    metrics_flush_interval: float
    metrics_cache_seconds: float

    def __getattr__(self, name: str) -> Any:
        if name not in JobsSettings.__annotations__:
            raise AttributeError(f"no setting JOBS_{name.upper()} (see config/settings.py)")
        return getattr(settings, f"JOBS_{name.upper()}")


conf = JobsSettings()
