"""Failures grouped by error: the error's class and first line, with what varies from one job
to the next (ids, numbers, quoted values, addresses) replaced by placeholders, then hashed.

"ValueError: customer 42 not found" and "ValueError: customer 97 not found" are one group;
"KeyError: 'email'" and "KeyError: 'name'" are one group too (a quoted value varies). The
hash is stored on the failed job (`Job.error_group`), so that the console counts groups from
an index instead of reading every error.
"""
from __future__ import annotations

import hashlib
import re

_PATTERNS = [
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<id>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<address>"),
    (re.compile(r"https?://\S+"), "<url>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<value>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{12,}\b"), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
]
MAX_LINE = 200


def normalised(error: str) -> str:
    """The error's first non-empty line with its varying parts replaced."""
    line = next((part.strip() for part in error.splitlines() if part.strip()), "")
    for pattern, placeholder in _PATTERNS:
        line = pattern.sub(placeholder, line)
    return re.sub(r"\s+", " ", line)[:MAX_LINE]


def error_group(error: str) -> str:
    """The group key of an error (32 hex characters); "" for no error."""
    if not error:
        return ""
    return hashlib.blake2b(normalised(error).encode(), digest_size=16).hexdigest()
