"""The jobs API's JSON parser: the shared one (`api.parsers`, which limits the body's bytes)
with the depth a job's input may have, so that a body nested too deep for json is answered
with the same message the job services give (`jobs.validation`)."""
from __future__ import annotations

from api.parsers import LimitedJSONParser
from jobs.validation import MAX_INPUT_DEPTH, shown


class JobInputJSONParser(LimitedJSONParser):
    """REST_FRAMEWORK's parser: a body field (`input`, `inputs[2]`) may nest MAX_INPUT_DEPTH
    levels, as a job's input may."""

    max_depth = MAX_INPUT_DEPTH

    def quote(self, key: str) -> str:
        return shown(key)
