# The counts behind a user's job lists come from indexes alone.
#
# A user who is not staff sees the jobs they created and those of their organizations. A list's
# total was one COUNT over "created by them OR in their organizations", which PostgreSQL can
# only answer from the table: 35 ms for a member of an organization of 85,000 jobs at
# 1,000,000 rows, and 140 ms with a status filter (8,000 rows spread over 26,000 pages). The
# selectors now count the two halves apart (created by the user; in their organizations but
# not created by them), and these indexes answer each half alone, with the status or type
# filter:
#
# * the creator's index gets the status and the type after created_at;
# * the organization's index gets the status, the creator and the type (a member's list
#   filtered by type: 85 ms -> 25 ms);
# * the project's index gets the organization and the creator after the status (a member's
#   list or stats of one project: 40 ms -> 20 ms, and 36 ms -> 8 ms).
#
# They replace the indexes they extend (same count of indexes on jobs_job, so no extra write
# per job), and the lists still read them in created_at order. Built before the old ones go,
# CONCURRENTLY on PostgreSQL (jobs.migration_ops), so that workers keep writing meanwhile.

from django.conf import settings
from django.db import migrations, models

from jobs.migration_ops import AddIndexOnline, RemoveIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run in a transaction

    dependencies = [
        ('jobs', '0007_queued_expiring_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexOnline(
            model_name='job',
            index=models.Index(fields=['created_by', '-created_at', 'status', 'type'], name='job_creator_list_idx'),
        ),
        AddIndexOnline(
            model_name='job',
            index=models.Index(fields=['organization', '-created_at', 'status', 'created_by', 'type'],
                               name='job_org_list_idx'),
        ),
        AddIndexOnline(
            model_name='job',
            index=models.Index(fields=['project', '-created_at', 'status', 'organization', 'created_by'],
                               name='job_project_list_idx'),
        ),
        RemoveIndexOnline(
            model_name='job',
            name='job_creator_created_idx',
        ),
        RemoveIndexOnline(
            model_name='job',
            name='job_org_created_status_idx',
        ),
        RemoveIndexOnline(
            model_name='job',
            name='job_proj_created_status_idx',
        ),
    ]
