"""Signals the scheduler sends after a commit, for apps above it (notifications) to act on
without the scheduler knowing them.

`schedule_ticked`: a tick (or a run-now) of a schedule was recorded. Keyword arguments:
schedule_id, name, outcome (a `FireOutcome` value: created, sent, deduplicated,
skipped_overlap, skipped_missed, failed) and message. Receivers run through `send_robust`.
"""
from __future__ import annotations

from django.dispatch import Signal

schedule_ticked = Signal()
