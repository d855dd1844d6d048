# The two operator groups the platform ships (jobs.operator_groups says what each holds).
#
# Permissions are created here (Django creates them only after all migrations ran), so that
# the groups can hold them on a fresh database. Running it again changes nothing.

from django.contrib.auth.management import create_permissions
from django.db import migrations

from jobs.operator_groups import OPERATORS, READ_ONLY, ensure_operator_groups


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    ensure_operator_groups(apps)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[READ_ONLY, OPERATORS]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("jobs", "0011_console_indexes"),
        ("audit", "0001_initial"),
        ("scheduler", "0001_initial"),
        ("notifications", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("django_celery_results", "0014_alter_taskresult_status"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
