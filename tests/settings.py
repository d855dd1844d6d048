"""Settings for the test process: the project's settings, with the environment prepared.

Outside DJANGO_*/CELERY_*/JOBS_* values are dropped so that a developer's shell cannot change
what the suite proves; DATABASE_URL and REDIS_URL are kept (`make test` against PostgreSQL
and a real Redis). Without REDIS_URL the suite starts its own embedded Redis (conftest).
Worker processes started by the tests get this same environment and the real
`config.settings`.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

for _name in list(os.environ):
    if _name.startswith(("DJANGO_", "CELERY_", "JOBS_")) and _name != "DJANGO_SETTINGS_MODULE":
        del os.environ[_name]

# A folder of this run's own (SQLite test database, embedded Redis socket), so that two
# runs at once do not share them; removed at the end of the run (conftest).
TEST_VAR_DIR = Path(os.environ.get("CONVEYOR_TEST_VAR_DIR") or tempfile.mkdtemp(prefix="conveyor-test-"))
TEST_REDIS_SOCKET = TEST_VAR_DIR / "redis" / "redis.sock"
EMBEDDED_REDIS_FOR_TESTS = not os.environ.get("REDIS_URL")
if EMBEDDED_REDIS_FOR_TESTS:
    os.environ["REDIS_URL"] = f"redis+socket://{TEST_REDIS_SOCKET}"

# Short timings so that recovery is observable within seconds; tests that need the
# production defaults as numbers read them from the handler policy, not from here.
TEST_ENVIRONMENT = {
    "JOBS_HEARTBEAT_INTERVAL": "0.5",
    "JOBS_HEARTBEAT_TIMEOUT": "3",
    "JOBS_RESCUE_INTERVAL": "1",
    "JOBS_SWEEP_INTERVAL": "1",
    "JOBS_SWEEP_UNCLAIMED_AFTER": "3",
    "JOBS_SWEEP_OVERTAKEN_AFTER": "1",
    "JOBS_SHUTDOWN_GRACE": "2",
    "JOBS_PROGRESS_MIN_INTERVAL": "0.2",
    "JOBS_CANCEL_GRACE": "1",
    "JOBS_HARD_TIMEOUT_GRACE": "1",
    "JOBS_HANDLER_MODULES": "handlers.demo,handlers.dossiers,handlers.maintenance,tests.handlers",
    # Every beat a test starts syncs the system schedules; the ones that create jobs or delete
    # files stay off there, so that an hourly tick during a test adds nothing to what it counts.
    # The scheduler's own tests switch them on where they look at them.
    "JOBS_SCHEDULES_DISABLED": "sync-updated-dossiers,process-attachments-maintenance,"
                               "consolidate-dossiers-maintenance,storage:cleanup,jobs:cleanup",
    "CONVEYOR_VAR_DIR": str(TEST_VAR_DIR),
}
os.environ.update(TEST_ENVIRONMENT)

from config.settings import *  # noqa: E402, F403

# Two suites at once (say, on one CI machine) need their own test databases.
if os.environ.get("CONVEYOR_TEST_DB_NAME") and not DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": os.environ["CONVEYOR_TEST_DB_NAME"]}  # noqa: F405

# Hashing test users' passwords with the production hasher costs half a second each.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
