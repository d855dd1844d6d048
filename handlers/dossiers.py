"""The dossier pipeline: hourly sync, attachment processing, dossier consolidation, and the
nightly maintenance that retries what failed.

The handlers only log and report progress until the real integrations are wired in; their
policies are the pipeline's own: a stable dedup key per attachment and per dossier (a second
request for the same one joins the queued job), debounce of 2 s and 5 s, attachments
processed one at a time across every worker (their writes would conflict), dossiers four at
a time.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from handlers.context import JobContext
from handlers.registry import handler


class AttachmentInput(BaseModel):
    attachment_id: str


class DossierInput(BaseModel):
    dossier_id: str


@handler("process-attachment", queue="attachments", concurrency=1, dedup_key="attachment-{attachment_id}",
         debounce=2, schema=AttachmentInput)
def process_attachment(ctx: JobContext) -> dict[str, Any]:
    """Parses one attachment into series (sequential: concurrent writes would conflict)."""
    ctx.log("processing attachment %s", ctx.input["attachment_id"])
    ctx.progress(100, "attachment processed")
    return {"attachment_id": ctx.input["attachment_id"]}


@handler("consolidate-dossier", queue="dossiers", concurrency=4, dedup_key="dossier-{dossier_id}",
         debounce=5, schema=DossierInput)
def consolidate_dossier(ctx: JobContext) -> dict[str, Any]:
    """Builds the daily integrations of one dossier."""
    ctx.log("consolidating dossier %s", ctx.input["dossier_id"])
    ctx.progress(100, "dossier consolidated")
    return {"dossier_id": ctx.input["dossier_id"]}


@handler("sync-updated-dossiers", concurrency=1)
def sync_updated_dossiers(ctx: JobContext) -> dict[str, Any]:
    """Fetches the dossiers changed since the last sync (hourly)."""
    ctx.log("syncing updated dossiers")
    return {"synced": 0}


@handler("process-attachments-maintenance", concurrency=1)
def process_attachments_maintenance(ctx: JobContext) -> dict[str, Any]:
    """Reprocesses attachments left in error or warning (nightly, 03:00)."""
    ctx.log("reprocessing attachments in error")
    return {"requeued": 0}


@handler("consolidate-dossiers-maintenance", concurrency=1)
def consolidate_dossiers_maintenance(ctx: JobContext) -> dict[str, Any]:
    """Reconsolidates dossiers marked for it (nightly, 04:00)."""
    ctx.log("reconsolidating marked dossiers")
    return {"requeued": 0}
