"""The two operator groups the platform ships, kept in step with their definition:

  * "Read-only operators": see everything in the console (every view permission of the
    platform's apps, and jobs' inputs and results, sensitive fields masked), act on nothing;
  * "Operators": the same, and cancel, retry, bulk actions, pause and resume, and schedules.

A data migration creates them (jobs 0012); after every migrate and flush `post_migrate` adds
what is missing (a permission of a model added later, a group a test flush removed). It never
takes a permission away: an administrator may have widened a group on purpose.
"""
from __future__ import annotations

from typing import Any

READ_ONLY = "Read-only operators"
OPERATORS = "Operators"
VIEW_APPS = ["jobs", "scheduler", "notifications", "audit", "django_celery_beat", "django_celery_results"]
READ_ONLY_EXTRA = [("jobs", "view_job_payload")]
# given to a person by name, never by being an operator
NOT_FOR_OPERATORS = ["view_sensitive_input"]
OPERATOR_EXTRA = [
    ("jobs", "cancel_job"), ("jobs", "retry_job"), ("jobs", "bulk_job"), ("jobs", "pause_work"),
    ("scheduler", "add_scheduledjob"), ("scheduler", "change_scheduledjob"), ("scheduler", "delete_scheduledjob"),
]


def ensure_operator_groups(apps: Any) -> None:
    """Create the groups and give them their permissions (`apps`: the migration's historical
    registry, or django.apps.apps)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    views = list(Permission.objects.filter(content_type__app_label__in=VIEW_APPS, codename__startswith="view_")
                 .exclude(codename__in=NOT_FOR_OPERATORS))
    read_only = [*views, *_named(Permission, READ_ONLY_EXTRA)]
    for name, permissions in ((READ_ONLY, read_only), (OPERATORS, [*read_only, *_named(Permission, OPERATOR_EXTRA)])):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def _named(Permission: Any, pairs: list[tuple[str, str]]) -> list[Any]:
    # a permission not created yet (its app not migrated) is added by a later post_migrate
    return list(Permission.objects.filter(
        content_type__app_label__in={app for app, _ in pairs}, codename__in={codename for _, codename in pairs}))


def on_post_migrate(sender: Any, **kwargs: Any) -> None:
    """At the last app's post_migrate: by then every app's permissions exist."""
    from django.apps import apps as installed  # noqa: PLC0415

    registry = kwargs.get("apps") or installed
    if sender.label == list(installed.get_app_configs())[-1].label:
        ensure_operator_groups(registry)
