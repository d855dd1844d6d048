"""Statements of every job's path (`jobs.storage.queries`), prepared once per database
connection: the INSERT of a new job, the worker's claim and its completion.

Django sends every statement as text with its parameters inlined (client-side binding), so
PostgreSQL plans them anew for every job; planning the claim's
UPDATE ... RETURNING with its attempt INSERT cost about as much as running it. A cursor from
`prepared_cursor()` binds parameters on the server and prepares each statement on its first
use on a connection; later executions only bind and run. It is still Django's cursor wrapper,
so query logging, execute wrappers and CaptureQueriesContext see these statements.

Parameters are typed by psycopg, except text and NULL: a statement that uses a parameter
where PostgreSQL cannot infer its type (a SELECT list) casts it.

JOBS_PREPARED_STATEMENTS=0 turns it off, for a connection pooler in transaction mode that
does not keep prepared statements (PgBouncer before 1.21, or without max_prepared_statements).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper

from jobs.conf import conf


def _prepared_cursor_class() -> type:
    # imported here, not at the top: psycopg is only installed (and only needed) for PostgreSQL
    import psycopg  # noqa: PLC0415
    from psycopg import errors, pq  # noqa: PLC0415

    class PreparedCursor(psycopg.Cursor):
        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None,
                    binary: bool | None = None) -> Any:
            # psycopg prepares nothing while the connection's threshold is None (Django's
            # default), not even when asked; it is lifted for this statement only, so that
            # Django's own cursors keep their behaviour (and psycopg no cache of their queries)
            conn = self.connection
            threshold = conn.prepare_threshold
            if threshold is None:
                conn.prepare_threshold = _ONLY_WHEN_ASKED
            try:
                return self._execute_prepared(query, params, binary)
            finally:
                conn.prepare_threshold = threshold

        def _execute_prepared(self, query: Any, params: Any, binary: bool | None) -> Any:
            try:
                return super().execute(query, params, prepare=True, binary=binary)
            except errors.FeatureNotSupported as exc:
                # A migration changed a table under a prepared statement and PostgreSQL
                # refuses its old plan. Outside a transaction nothing is lost: forget every
                # prepared statement of this connection (psycopg forgets them too when it
                # sees DEALLOCATE ALL) and prepare again.
                if ("cached plan must not change result type" not in str(exc)
                        or self.connection.info.transaction_status != pq.TransactionStatus.IDLE):
                    raise
                super().execute("DEALLOCATE ALL", prepare=False)
                return super().execute(query, params, prepare=True, binary=binary)

    return PreparedCursor


_cursor_class: type | None = None
_ONLY_WHEN_ASKED = 2**62  # a count of executions no statement reaches


def prepares() -> bool:
    return connection.vendor == "postgresql" and conf.prepared_statements


@contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    """Django's cursor on PostgreSQL with server-side binding and prepared statements; the
    ordinary cursor elsewhere."""
    global _cursor_class
    if not prepares():
        with connection.cursor() as cursor:
            yield cursor
        return
    if _cursor_class is None:
        _cursor_class = _prepared_cursor_class()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _cursor_class(connection.connection)
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with wrapped as cursor:
        yield cursor


def fetch_model(cursor: CursorWrapper, model: Any) -> Any:
    """The next row of `cursor` as an instance of `model` (its columns named as the fields'
    attnames), converted as Django converts the rows of a query; None at the end."""
    row = cursor.fetchone()
    if row is None:
        return None
    db = cursor.db
    names, plan = _row_plan(db, model, tuple(c.name if hasattr(c, "name") else c[0] for c in cursor.description))
    values = []
    for index, col, converters in plan:
        value = row[index]
        for convert in converters:
            value = convert(value, col, db)
        values.append(value)
    return model.from_db(db.alias, names, values)


_plans: dict[tuple[str, type, tuple[str, ...]], tuple[list[str], list[tuple[int, Any, list[Any]]]]] = {}


def _row_plan(db: Any, model: Any, columns: tuple[str, ...]) -> tuple[list[str], list[tuple[int, Any, list[Any]]]]:
    """Per result shape: the attnames in the model's field order (what from_db expects of a
    partial row), where each is in the row, and its converters."""
    key = (db.vendor, model, columns)
    if key not in _plans:
        position = {name: i for i, name in enumerate(columns)}
        names, plan = [], []
        for field in model._meta.concrete_fields:
            if field.attname in position:
                col = field.get_col(model._meta.db_table)
                names.append(field.attname)
                plan.append((position[field.attname], col,
                             [*db.ops.get_db_converters(col), *col.get_db_converters(db)]))
        _plans[key] = (names, plan)
    return _plans[key]
