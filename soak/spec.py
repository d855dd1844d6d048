"""What the soak's handlers, its driver and its report agree on: the job types and their
limits, the effect table, the event files' location. Imports nothing of Django, so that the
report and the driver can use it before Django is set up."""
from __future__ import annotations

# Most jobs have no limit; a share of them is limited globally, and another per key, so that
# the report can check both kinds of concurrency limit against what really ran.
FREE = "soak.free"
PAIR = "soak.pair"
KEYED = "soak.keyed"
TYPES = (FREE, PAIR, KEYED)
PAIR_LIMIT = 2
KEYED_LIMIT = 1
KEYS = ("a", "b")

# The longest a handler sleeps before writing its effect, in milliseconds (drawn from 0..this).
MAX_SLEEP_MS = 300

# The handlers' folder for event files is passed to workers in this variable.
DIR_ENV = "SOAK_DIR"
EVENTS_SUBDIR = "events"

# One row per handler run that got as far as its effect. run_id is the primary key, so that a
# handler that lost its connection while committing can insert again without doubling a run.
EFFECT_TABLE = "soak_effect"
EFFECT_DDL = f"""
CREATE TABLE IF NOT EXISTS {EFFECT_TABLE} (
    run_id uuid PRIMARY KEY,
    job_id uuid NOT NULL,
    attempt integer NOT NULL,
    worker text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS {EFFECT_TABLE}_job_idx ON {EFFECT_TABLE} (job_id);
"""


def limit_of(job_type: str) -> int | None:
    """The concurrency limit a type was registered with (None: unlimited)."""
    return {PAIR: PAIR_LIMIT, KEYED: KEYED_LIMIT}.get(job_type)
