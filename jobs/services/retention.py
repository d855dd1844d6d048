"""Retention: finished jobs are deleted after their keep period, and Celery's result rows
(django-celery-results, whose table otherwise grows without bound) are pruned alike.

Completed and cancelled jobs go JOBS_KEEP_COMPLETED_DAYS after they finished, failed ones after
JOBS_KEEP_FAILED_DAYS (kept longer, for investigation); queued and running jobs are never
deleted. Deletion goes by batches of ids, each its own short transaction, so a large backlog
never holds one long lock and a crash loses only the batch in flight. The hourly `jobs:cleanup`
untracked job runs it (`jobs.maintenance`).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_celery_results.models import TaskResult

from jobs.conf import conf
from jobs.models import Job, JobAttempt
from jobs.states import JobStatus
from jobs.validation import int_in_range, number_in_range

logger = logging.getLogger("conveyor.jobs")

_DELETED_KINDS = ("completed", "cancelled", "failed", "task_results")


def jobs_delete_expired(
    *,
    keep_completed_days: float | None = None,
    keep_failed_days: float | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Delete finished jobs past their keep period, and prune django-celery-results' rows
    (SUCCESS like completed jobs, anything else like failed ones). `max_batches` bounds one
    call's work.

    Returns the counts deleted: completed, cancelled, failed, task_results, batches.
    """
    now = now or timezone.now()
    completed_days = number_in_range(
        "keep_completed_days", conf.keep_completed_days if keep_completed_days is None
        else keep_completed_days, 0, what="number of days")
    failed_days = number_in_range(
        "keep_failed_days", conf.keep_failed_days if keep_failed_days is None else keep_failed_days, 0,
        what="number of days")
    size = int_in_range("batch_size", conf.cleanup_batch_size if batch_size is None else batch_size, 1)
    completed_before = now - timedelta(days=completed_days)
    failed_before = now - timedelta(days=failed_days)
    counts = {"completed": 0, "cancelled": 0, "failed": 0, "task_results": 0, "batches": 0}
    plans = (
        ("completed", Q(status=JobStatus.COMPLETED) & _finished_before(completed_before)),
        ("cancelled", Q(status=JobStatus.CANCELLED) & _finished_before(completed_before)),
        ("failed", Q(status=JobStatus.FAILED) & _finished_before(failed_before)),
    )
    for key, condition in plans:
        _delete_jobs(key, condition, size, max_batches, counts)
    results = (
        Q(status="SUCCESS", date_done__lt=completed_before) | (~Q(status="SUCCESS") & Q(date_done__lt=failed_before))
    )
    _prune_task_results(results, size, max_batches, counts)
    if any(counts[key] for key in _DELETED_KINDS):
        logger.info(
            "retention: deleted %(completed)s completed, %(cancelled)s cancelled and %(failed)s failed job(s), "
            "%(task_results)s task result(s) in %(batches)s batch(es)", counts,
        )
    return counts


def _finished_before(cutoff: datetime) -> Q:
    # completed_at is set by every final transition; updated_at covers rows written otherwise
    return Q(completed_at__lt=cutoff) | Q(completed_at__isnull=True, updated_at__lt=cutoff)


def _budget_left(counts: dict[str, int], max_batches: int | None) -> bool:
    return max_batches is None or counts["batches"] < max_batches


def _delete_jobs(key: str, condition: Q, size: int, max_batches: int | None, counts: dict[str, int]) -> None:
    """Jobs matching `condition`, and their attempts, a batch per transaction."""
    while _budget_left(counts, max_batches):
        ids = list(Job.objects.filter(condition).order_by().values_list("pk", flat=True)[:size])
        if not ids:
            break
        with transaction.atomic():
            # the condition again: a job retried since the read is queued now and stays
            doomed = Job.objects.filter(condition, pk__in=ids)
            JobAttempt.objects.filter(job__in=doomed.values("pk")).delete()
            deleted = doomed.delete()[1].get(Job._meta.label, 0)
        counts[key] += deleted
        counts["batches"] += 1
        if len(ids) < size:
            break


def _prune_task_results(condition: Q, size: int, max_batches: int | None, counts: dict[str, int]) -> None:
    while _budget_left(counts, max_batches):
        ids = list(TaskResult.objects.filter(condition).order_by().values_list("pk", flat=True)[:size])
        if not ids:
            break
        counts["task_results"] += TaskResult.objects.filter(condition, pk__in=ids).delete()[0]
        counts["batches"] += 1
        if len(ids) < size:
            break
