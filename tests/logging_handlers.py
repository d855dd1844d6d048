"""A handler that logs through Python's logging and prints, for the tests of the workers' log
lines. Registered when this module is imported: by the workers whose JOBS_HANDLER_MODULES name
it, and by the test that creates its jobs (`register()`; `handlers.registry.unregister` after)."""
from __future__ import annotations

import logging
from typing import Any

from handlers import JobContext, handler

LOGS_ITSELF = "test.logs_itself"

logger = logging.getLogger("tests.logging_handlers")


def logs_itself(ctx: JobContext) -> dict[str, Any]:
    logger.info("handler line of %s", ctx.job_id)
    print(f"handler print of {ctx.job_id}")  # Celery's worker logs a handler's stdout
    return {}


def register() -> None:
    handler(LOGS_ITSELF)(logs_itself)


register()
