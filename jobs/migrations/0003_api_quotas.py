# Quotas for the REST API: per-organization limits and the per-scope lock row.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("jobs", "0002_policies"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="jobs_per_minute",
            field=models.PositiveIntegerField(
                blank=True, null=True,
                help_text="Jobs a member may create per minute here (empty: JOBS_QUOTA_PER_MINUTE; 0: no limit).",
            ),
        ),
        migrations.AddField(
            model_name="organization",
            name="jobs_per_hour",
            field=models.PositiveIntegerField(
                blank=True, null=True,
                help_text="Jobs a member may create per hour here (empty: JOBS_QUOTA_PER_HOUR; 0: no limit).",
            ),
        ),
        migrations.AddField(
            model_name="organization",
            name="jobs_per_day",
            field=models.PositiveIntegerField(
                blank=True, null=True,
                help_text="Jobs a member may create per day here (empty: JOBS_QUOTA_PER_DAY; 0: no limit).",
            ),
        ),
        migrations.AddField(
            model_name="organization",
            name="max_payload_bytes",
            field=models.PositiveIntegerField(
                blank=True, null=True,
                help_text=(
                    "Largest job input in bytes here (empty: JOBS_MAX_PAYLOAD_BYTES; it can only lower that limit)."
                ),
            ),
        ),
        migrations.CreateModel(
            name="QuotaLock",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("scope", models.CharField(max_length=64, unique=True)),
                (
                    "organization",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.CASCADE,
                        related_name="+", to="jobs.organization",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
        ),
    ]
