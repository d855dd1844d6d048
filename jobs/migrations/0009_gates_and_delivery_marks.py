# Jobs that cannot run yet wait in the database (`jobs.gates`), and the sweeper decides that a
# message was lost from how far workers have taken each queue (`jobs.recovery`).
#
# - Job.gate: the limit a job is admitted through (NULL for a type without limits).
# - job_queued_sent_idx replaces job_queued_run_at_idx: the sweeper reads queued jobs by queue,
#   priority and dispatch time; one index for every queued job either way.
# - job_queued_waiting_idx and job_gate_busy_idx hold only jobs that no message carries and
#   limited jobs: nothing more is written for an ordinary job.
# - DeliveryMark: per (queue, priority), the dispatch time of the newest message claimed.
#
# Jobs queued before this migration have no gate and run as they were published. Indexes are
# built CONCURRENTLY on PostgreSQL (jobs.migration_ops), so that workers keep writing.

from django.db import migrations, models

from jobs.migration_ops import AddIndexOnline, RemoveIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run in a transaction

    dependencies = [
        ('jobs', '0008_list_indexes_carry_visibility'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='gate',
            field=models.CharField(blank=True, max_length=255, null=True),
        ),
        migrations.CreateModel(
            name='DeliveryMark',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('queue', models.CharField(max_length=100)),
                ('priority', models.PositiveSmallIntegerField()),
                ('delivered_through', models.DateTimeField(blank=True, null=True)),
                ('probe_sent_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('queue', 'priority'), name='delivery_mark_unique_queue')],
            },
        ),
        AddIndexOnline(
            model_name='job',
            index=models.Index(condition=models.Q(('dispatched_at__isnull', False), ('status', 'queued')), fields=['queue', 'priority', 'dispatched_at'], name='job_queued_sent_idx'),
        ),
        AddIndexOnline(
            model_name='job',
            index=models.Index(condition=models.Q(('dispatched_at__isnull', True), ('status', 'queued')), fields=['gate', 'priority', 'queued_at'], name='job_queued_waiting_idx'),
        ),
        AddIndexOnline(
            model_name='job',
            index=models.Index(condition=models.Q(('gate__isnull', False), models.Q(('status', 'running'), models.Q(('dispatched_at__isnull', False), ('status', 'queued')), _connector='OR')), fields=['gate'], name='job_gate_busy_idx'),
        ),
        RemoveIndexOnline(
            model_name='job',
            name='job_queued_run_at_idx',
        ),
    ]
