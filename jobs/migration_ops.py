"""Index changes that do not stop the workers: CONCURRENTLY on PostgreSQL.

A plain CREATE INDEX blocks every write to the table while it reads the whole table (about a
second per million jobs on a small machine), and every claim and completion waits. On
PostgreSQL these build and drop the index CONCURRENTLY, in a migration with `atomic = False`;
other databases get the plain operation. A concurrent build that fails leaves an INVALID
index behind: drop it before running the migration again.
"""
from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations import AddIndex, RemoveIndex


def _postgresql(schema_editor: Any) -> bool:
    return schema_editor.connection.vendor == "postgresql"


class _ConcurrentlyOnPostgreSQL:
    """The CONCURRENTLY operation (the next class in the MRO) on PostgreSQL, `plain` elsewhere."""

    plain: Any

    def _pick(self, schema_editor: Any, method: str) -> Any:
        if _postgresql(schema_editor):
            return getattr(super(), method)
        return getattr(self.plain, method).__get__(self)

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._pick(schema_editor, "database_forwards")(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._pick(schema_editor, "database_backwards")(app_label, schema_editor, from_state, to_state)


class AddIndexOnline(_ConcurrentlyOnPostgreSQL, AddIndexConcurrently):
    plain = AddIndex


class RemoveIndexOnline(_ConcurrentlyOnPostgreSQL, RemoveIndexConcurrently):
    plain = RemoveIndex
