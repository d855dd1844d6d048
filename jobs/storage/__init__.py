"""Every hand-written SQL statement (`queries`), the prepared-statement cursor that runs them
(`prepared`), Celery's result backend (`result_backend`), and commits that skip the disk in
workers (`durability`)."""
from __future__ import annotations
