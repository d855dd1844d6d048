"""Signals the jobs app sends after a commit, for apps above it (notifications) to act on
without the jobs app knowing them.

Every receiver gets keyword arguments describing the job as it was committed; none gets a
model instance, so that a receiver never reads a half-written row or holds up the worker:
    job_id, job_type, queue, organization_id, project_id, attempts
plus, for `job_failed`: error and reason (handler, timeout, result, expired, rescues);
for `job_rescued`: rescues (how many times it has lost its worker so far).
A receiver's exception is logged and swallowed (`send_robust`): telling someone about a job
never changes the job.
"""
from __future__ import annotations

from django.dispatch import Signal

# a job reached `failed`: no attempt is left, or it can never run
job_failed = Signal()
# a running job lost its worker and was taken back by the rescuer (or failed, past the cap)
job_rescued = Signal()
