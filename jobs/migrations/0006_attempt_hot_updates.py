# An attempt's row is inserted by the claim and updated once by the outcome, a few
# milliseconds later, in every job's life:
#
# * the job_id index duplicated the unique (job_id, number) index, which serves lookups by
#   job: one index entry fewer per insert and per non-HOT update;
# * on PostgreSQL the table keeps a fifth of each page free (fillfactor 80), so that the
#   outcome's update finds room on the row's own page and is a HOT update: it changes no
#   indexed column, so no index entry is written at all.

import django.db.models.deletion
from django.db import migrations, models


def set_fillfactor(apps, schema_editor, value=80):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE jobs_jobattempt SET (fillfactor = {int(value)})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE jobs_jobattempt RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0005_org_project_indexes_carry_status'),
    ]

    operations = [
        migrations.AlterField(
            model_name='jobattempt',
            name='job',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='attempt_set', to='jobs.job'),
        ),
        migrations.RunPython(set_fillfactor, reset_fillfactor),
    ]
