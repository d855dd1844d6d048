"""The result backend: django-celery-results' rows, written with one upsert."""
import pytest
from celery import states
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_results.models import TaskResult

from config.celery import app

pytestmark = pytest.mark.django_db


def test_a_result_is_one_statement_and_a_second_one_updates_the_row():
    backend = app.backend
    with CaptureQueriesContext(connection) as queries:
        backend.store_result("task-1", None, states.STARTED)
    assert len(queries) == 1
    backend.store_result("task-1", {"job": "j1", "outcome": "completed"}, states.SUCCESS)
    row = TaskResult.objects.get(task_id="task-1")
    assert row.status == states.SUCCESS and '"completed"' in row.result and row.date_started is not None
    assert TaskResult.objects.count() == 1
    assert backend.get_task_meta("task-1")["result"] == {"job": "j1", "outcome": "completed"}
