"""The tracked no-op job of the benchmark."""
from typing import Any

from handlers import JobContext, handler


@handler("bench.noop")
def noop(ctx: JobContext) -> dict[str, Any]:
    """Returns at once."""
    return {}
