"""A worker's database session: its commits do not wait for the disk.

Why that is safe, and how to turn it off, is in `jobs.storage.durability`.
"""
from __future__ import annotations

from typing import Any

from celery import signals

from jobs.storage import durability


@signals.worker_init.connect
def _on_worker_init(**kwargs: Any) -> None:
    # the main process, before the pool forks: its children inherit the setting
    durability.relax_commits_in_this_process()
