"""The maintenance the system schedules run: jobs:cleanup (retention of jobs and of
django-celery-results rows, in batches) and storage:cleanup (expired temporary files only)."""
from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_results.models import TaskResult

from handlers.maintenance import clean_expired_files
from jobs import services
from jobs.errors import JobValidationError
from jobs.models import Job, JobAttempt
from jobs.worker import untracked
from scheduler.models import ScheduledJob
from tests.factories import make_job, make_user

DAY = timedelta(days=1)


def finished(status: str, days_ago: float, **fields: Any) -> Job:
    when = timezone.now() - timedelta(days=days_ago)
    job = make_job(status, completed_at=when, updated_at=when, **fields)
    JobAttempt.objects.create(job=job, number=1, started_at=when, finished_at=when, outcome="completed")
    return job


def result(status: str, days_ago: float) -> TaskResult:
    row = TaskResult.objects.create(task_id=os.urandom(8).hex(), status=status)
    # date_done is auto_now: set it the way the row would have aged
    TaskResult.objects.filter(pk=row.pk).update(date_done=timezone.now() - timedelta(days=days_ago))
    return row


@pytest.mark.django_db
def test_retention_deletes_exactly_the_expired_rows_in_batches() -> None:
    keep = {
        finished("completed", 6.5), finished("cancelled", 1), finished("failed", 29),
        make_job("queued", created_at=timezone.now() - 90 * DAY), make_job("running"),
    }
    old_completed = [finished("completed", 8) for _ in range(5)]
    expired = [*old_completed, finished("cancelled", 10), finished("failed", 31), finished("failed", 400)]
    keep_results = {result("SUCCESS", 6).pk, result("FAILURE", 20).pk}
    expired_results = [result("SUCCESS", 8).pk, result("FAILURE", 31).pk, result("REVOKED", 60).pk]
    schedule = ScheduledJob.objects.create(kind="user", owner=make_user(), name="s", job_type="demo.sleep",
                                           frequency="daily", last_job=old_completed[0])

    with override_settings(JOBS_KEEP_COMPLETED_DAYS=7, JOBS_KEEP_FAILED_DAYS=30):
        counts = services.jobs_delete_expired(batch_size=2)
    assert counts == {"completed": 5, "cancelled": 1, "failed": 2, "task_results": 3,
                      "batches": 3 + 1 + 1 + 2}  # 5 completed by twos, then 1, 2, and 3 results by twos
    assert set(Job.objects.all()) == keep
    assert not Job.objects.filter(pk__in=[job.pk for job in expired]).exists()
    # attempts go with their jobs; the kept finished jobs keep theirs
    assert set(JobAttempt.objects.values_list("job_id", flat=True)) == {
        job.pk for job in keep if job.status in ("completed", "cancelled", "failed")}
    assert set(TaskResult.objects.values_list("pk", flat=True)) == keep_results
    assert not TaskResult.objects.filter(pk__in=expired_results).exists()
    schedule.refresh_from_db()
    assert schedule.last_job is None  # the schedule stays, its link to the deleted job is cleared
    assert services.jobs_delete_expired() == {"completed": 0, "cancelled": 0, "failed": 0, "task_results": 0,
                                              "batches": 0}


@pytest.mark.django_db
def test_each_batch_is_a_bounded_delete_and_max_batches_stops_early() -> None:
    for _ in range(7):
        finished("completed", 30)
    with CaptureQueriesContext(connection) as queries:
        counts = services.jobs_delete_expired(batch_size=3, max_batches=2)
    assert counts["completed"] == 6 and counts["batches"] == 2 and Job.objects.count() == 1
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and "LIMIT 3" in q["sql"]]
    assert len(selects) == 2


@pytest.mark.django_db
def test_retention_refuses_nonsense_and_deletes_nothing() -> None:
    finished("completed", 30)
    for bad in ({"keep_completed_days": -1}, {"keep_failed_days": float("nan")}, {"batch_size": 0}):
        with pytest.raises(JobValidationError):
            services.jobs_delete_expired(**bad)
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_the_jobs_cleanup_system_job_runs_the_retention() -> None:
    finished("completed", 30)
    finished("failed", 30)
    out = untracked.execute_untracked("jobs:cleanup", {"keep_failed_days": 60}, task_id="t1")
    assert out["completed"] == 1 and out["failed"] == 0
    assert list(Job.objects.values_list("status", flat=True)) == ["failed"]


# --- storage:cleanup ----------------------------------------------------------------------------


def touch(path: Path, *, hours_ago: float, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    when = time.time() - hours_ago * 3600
    os.utime(path, (when, when))
    return path


def age(path: Path, hours_ago: float) -> None:
    when = time.time() - hours_ago * 3600
    os.utime(path, (when, when), follow_symlinks=False)


def test_storage_cleanup_deletes_only_expired_files(tmp_path: Path) -> None:
    root = tmp_path / "tmp"
    outside = touch(tmp_path / "precious" / "keep.txt", hours_ago=100)
    old = [touch(root / "a.part", hours_ago=25, size=100), touch(root / "up" / "1" / "chunk", hours_ago=48, size=5)]
    fresh = [touch(root / "b.part", hours_ago=1), touch(root / "up" / "2" / "chunk", hours_ago=2)]
    (root / "just-made").mkdir()  # an empty folder just made for an upload: it stays
    old_empty = root / "forgotten"
    old_empty.mkdir()
    age(old_empty, 30)
    link = root / "link-to-precious"
    link.symlink_to(tmp_path / "precious", target_is_directory=True)
    age(link, 30)
    link_size = os.lstat(link).st_size

    counts = clean_expired_files(root, max_age_seconds=24 * 3600)

    assert [p.exists() for p in old] == [False, False]
    assert all(p.exists() for p in fresh)
    assert outside.exists()  # the link was deleted, not followed
    assert not link.exists() and not link.is_symlink()
    assert not (root / "up" / "1").exists()  # emptied by the cleanup
    assert (root / "up" / "2").exists() and (root / "just-made").exists() and not old_empty.exists()
    assert root.exists()
    assert counts == {"deleted_files": 3, "deleted_bytes": 105 + link_size, "removed_dirs": 2, "kept_files": 2,
                      "errors": 0}


def test_storage_cleanup_of_a_missing_folder_does_nothing(tmp_path: Path) -> None:
    assert clean_expired_files(tmp_path / "nope", max_age_seconds=1)["deleted_files"] == 0


def test_the_storage_cleanup_system_job_reads_its_folder_from_the_settings(tmp_path: Path) -> None:
    expired = touch(tmp_path / "old.bin", hours_ago=3)
    kept = touch(tmp_path / "new.bin", hours_ago=1)
    with override_settings(STORAGE_TEMP_DIR=str(tmp_path), STORAGE_TEMP_MAX_AGE_HOURS=24):
        nothing = untracked.execute_untracked("storage:cleanup", {}, task_id="t1")
        assert nothing["deleted_files"] == 0 and expired.exists()
        out = untracked.execute_untracked("storage:cleanup", {"max_age_hours": 2}, task_id="t2")
    assert out["deleted_files"] == 1 and out["folder"] == str(tmp_path)
    assert not expired.exists() and kept.exists()
