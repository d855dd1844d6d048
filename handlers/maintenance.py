"""Storage maintenance, as an untracked job (no Job row; its log is its record), fired hourly
by a system schedule of `scheduler.system`:

  * storage:cleanup  deletes the temporary files older than STORAGE_TEMP_MAX_AGE_HOURS under
                     STORAGE_TEMP_DIR, and the folders it leaves empty.

The jobs app's own maintenance (`jobs:cleanup`, the retention of finished jobs) is in
`jobs.maintenance`: a handler calls only the handler API, never the platform's services.
"""
from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from pydantic import BaseModel, Field

from handlers.context import JobContext
from handlers.errors import PermanentError
from handlers.registry import handler

logger = logging.getLogger("conveyor.maintenance")


class StorageCleanupInput(BaseModel):
    # the folder is the setting's only: a payload must never name what gets deleted
    max_age_hours: float | None = Field(default=None, ge=0)


def clean_expired_files(
    root: Path, *, max_age_seconds: float, now: float | None = None, log: Callable[..., None] | None = None,
) -> dict[str, int]:
    """Delete the files (and symbolic links) under `root` not modified for `max_age_seconds`,
    then the folders left empty by that or themselves expired. `root` itself stays.

    Links are never followed: a link is deleted as a file (its own age), whatever it points
    to, so nothing outside `root` is ever touched. A file that vanishes meanwhile (another
    cleaner, its owner) is not an error; one that cannot be deleted is counted and logged.
    """
    log = log or logger.info
    now = time.time() if now is None else now
    counts = {"deleted_files": 0, "deleted_bytes": 0, "removed_dirs": 0, "kept_files": 0, "errors": 0}
    root = Path(root)
    if not root.is_absolute() or root.resolve() == Path(root.anchor):
        raise PermanentError(f"STORAGE_TEMP_DIR={str(root)!r} must be an absolute folder other than the root")
    if not root.is_dir():
        log("storage cleanup: %s does not exist; nothing to clean", root)
        return counts
    cutoff = now - max_age_seconds
    # bottom-up, so that a folder is looked at after everything in it
    for folder, dirnames, filenames in os.walk(root, topdown=False, followlinks=False):
        try:
            folder_stat = os.lstat(folder)
        except FileNotFoundError:
            continue
        had_entries = bool(filenames or dirnames)
        for name in filenames:
            _delete_if_expired(os.path.join(folder, name), cutoff, counts, log)
        for name in dirnames:  # os.walk lists links to folders here; delete them as files
            path = os.path.join(folder, name)
            if os.path.islink(path):
                _delete_if_expired(path, cutoff, counts, log)
        if Path(folder) != root:
            _remove_if_emptied(folder, had_entries or folder_stat.st_mtime < cutoff, counts, log)
    return counts


def _delete_if_expired(path: str, cutoff: float, counts: dict[str, int], log: Callable[..., None]) -> None:
    """Delete the file or link at `path` if it was not modified since `cutoff`."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        return
    if st.st_mtime >= cutoff:
        counts["kept_files"] += 1
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        counts["errors"] += 1
        log("storage cleanup: could not delete %s: %s", path, exc)
        return
    counts["deleted_files"] += 1
    counts["deleted_bytes"] += st.st_size


def _remove_if_emptied(folder: str, removable: bool, counts: dict[str, int], log: Callable[..., None]) -> None:
    """Remove `folder` if it is empty now and `removable`: a folder emptied now held only
    expired files; an empty one must itself be old, so that a folder just made for an upload
    about to be written survives."""
    try:
        empty = not os.listdir(folder)
    except FileNotFoundError:
        return
    if not (empty and removable):
        return
    try:
        os.rmdir(folder)
        counts["removed_dirs"] += 1
    except FileNotFoundError:
        pass
    except OSError as exc:  # something was written into it meanwhile
        log("storage cleanup: kept folder %s: %s", folder, exc)


@handler("storage:cleanup", tracked=False, queue=settings.JOBS_SYSTEM_QUEUE, schema=StorageCleanupInput)
def storage_cleanup(ctx: JobContext) -> dict[str, Any]:
    """Deletes expired temporary files under STORAGE_TEMP_DIR (hourly)."""
    hours = ctx.input.get("max_age_hours")
    hours = settings.STORAGE_TEMP_MAX_AGE_HOURS if hours is None else float(hours)
    root = Path(settings.STORAGE_TEMP_DIR)
    counts = clean_expired_files(root, max_age_seconds=hours * 3600, log=ctx.log)
    ctx.log("storage cleanup of %s (older than %sh): %s", root, hours, counts)
    return {"folder": str(root), "max_age_hours": hours, **counts}
