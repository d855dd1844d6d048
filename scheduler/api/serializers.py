"""What the schedules API reads and answers, in the jobs API's camelCase.

The bodies check types and shapes only; the meaning (a cron expression, a time of day that
suits the frequency, a registered job type, an input that fits its schema) is checked by
`scheduler.services`, whose errors name the same fields. The schedule itself is rendered by
`scheduler.presenters.schedule_to_dict`; `ScheduleSerializer` describes it for the schema.
"""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.serializers import API_MAX_LIMIT, MAX_ID, MAX_OFFSET, StrictSerializer
from jobs.validation import shown
from scheduler.models import CatchUp, FireOutcome, Frequency, Overlap, ScheduleKind


def _choice(choices: list[str], **kwargs: Any) -> serializers.ChoiceField:
    # DRF's own message ("is not a valid choice") does not say what is
    message = f'"{{input}}" is not one of {", ".join(choices)}'
    return serializers.ChoiceField(choices=choices, error_messages={"invalid_choice": message}, **kwargs)


# --- query strings and bodies --------------------------------------------------------------------


class ScheduleListQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=API_MAX_LIMIT, default=50,
                                     help_text=f"Schedules per page, 1-{API_MAX_LIMIT}.")
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0,
                                      help_text="How many schedules to skip.")


class ScheduleWriteSerializer(StrictSerializer):
    """POST (name, type and frequency required) and PATCH (any subset, `partial=True`)."""

    name = serializers.CharField(max_length=100, help_text="Unique among your schedules.")
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, allow_null=True)
    type = serializers.CharField(max_length=100, help_text="The job type each run creates (see /api/job-types).")
    input = serializers.JSONField(required=False, allow_null=True,
                                  help_text="The input of each job: a JSON object that fits the type's schema.")
    frequency = _choice(Frequency.values, help_text="daily, weekly and monthly need timeOfDay; weekly a weekday; "
                                                    "monthly a dayOfMonth; cron a cron expression; interval "
                                                    "intervalSeconds.")
    cron = serializers.CharField(max_length=200, required=False, allow_null=True, allow_blank=True,
                                 help_text="For frequency=cron: five fields, e.g. '*/15 8-18 * * 1-5'.")
    timeOfDay = serializers.CharField(max_length=8, required=False, allow_null=True, allow_blank=True,
                                      help_text="For daily, weekly, monthly: HH:MM in the schedule's time zone.")
    weekday = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=6,
                                       help_text="For weekly: 0 = Monday ... 6 = Sunday.")
    dayOfMonth = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=28,
        error_messages={"max_value": "give 1 to 28, days every month has (use a cron expression for the 29th "
                                     "to the 31st)"},
        help_text="For monthly: 1 to 28.",
    )
    intervalSeconds = serializers.FloatField(required=False, allow_null=True,
                                             help_text="For frequency=interval: at least JOBS_SCHEDULE_MIN_INTERVAL.")
    timezone = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True,
                                     help_text="An IANA time zone, e.g. Europe/Paris; default: the server's "
                                               "TIME_ZONE.")
    enabled = serializers.BooleanField(required=False, help_text="Default true.")
    overlap = _choice(Overlap.values, required=False,
                      help_text="skip (default): no new run while the previous one is queued or running; allow.")
    catchUp = _choice(CatchUp.values, required=False,
                      help_text="After missed ticks: run_once (default) or skip; never once per missed tick.")
    organizationId = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True,
                                              help_text="Create it in this organization (you must be a member); "
                                                        "null: yours alone.")

    def quote(self, key: str) -> str:
        # an unknown key quoted as the job services quote a value (escaped, cut short when
        # long): a schedule's body is answered as a job's is
        return shown(key)


class OrgScheduleWriteSerializer(ScheduleWriteSerializer):
    """Creating in an organization: the organization comes from the path."""

    organizationId = None  # type: ignore[assignment]  # None removes the parent's field (DRF)


# --- answers -------------------------------------------------------------------------------------


class ScheduleSerializer(serializers.Serializer):
    """A schedule as `scheduler.presenters.schedule_to_dict` renders it, with its next runs."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ScheduleKind.values, help_text="system schedules are staff-only, "
                                                                          "read-only here")
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    ownerId = serializers.IntegerField(allow_null=True)
    organizationId = serializers.IntegerField(allow_null=True)
    type = serializers.CharField(allow_null=True, help_text="The job type each run creates.")
    jobType = serializers.CharField(allow_null=True, help_text="The same as `type` (the commands' name).")
    task = serializers.CharField(allow_null=True, help_text="System schedules of the core: the task beat sends.")
    input = serializers.JSONField()
    frequency = serializers.ChoiceField(choices=Frequency.values)
    cron = serializers.CharField(allow_null=True, help_text="The five cron fields it runs at (also for daily, "
                                                            "weekly, monthly); null for an interval.")
    timeOfDay = serializers.CharField(allow_null=True)
    weekday = serializers.IntegerField(allow_null=True)
    dayOfMonth = serializers.IntegerField(allow_null=True)
    intervalSeconds = serializers.FloatField(allow_null=True)
    timezone = serializers.CharField()
    enabled = serializers.BooleanField()
    paused = serializers.BooleanField()
    state = serializers.ChoiceField(choices=["active", "paused", "disabled"])
    overlap = serializers.ChoiceField(choices=Overlap.values)
    catchUp = serializers.ChoiceField(choices=CatchUp.values)
    nextRunAt = serializers.DateTimeField(allow_null=True)
    lastRunAt = serializers.DateTimeField(allow_null=True)
    lastFiredAt = serializers.DateTimeField(allow_null=True)
    lastJobId = serializers.UUIDField(allow_null=True)
    lastOutcome = serializers.ChoiceField(choices=FireOutcome.values, allow_null=True)
    lastMessage = serializers.CharField(allow_null=True)
    runCount = serializers.IntegerField()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    nextRuns = serializers.ListField(child=serializers.DateTimeField(),
                                     help_text="The next five run times (UTC); empty while paused or disabled.")


class SchedulePaginationSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    hasNext = serializers.BooleanField()


class SchedulePageSerializer(serializers.Serializer):
    schedules = ScheduleSerializer(many=True)
    pagination = SchedulePaginationSerializer()


class ScheduleRunSerializer(serializers.Serializer):
    scheduleId = serializers.IntegerField()
    # text, not a second enum of the same choices as lastOutcome (the schema would name it twice)
    outcome = serializers.CharField(help_text="created: a job was created; sent: an untracked job or a task was sent; "
                                              "failed: it could not be sent.")
    jobId = serializers.UUIDField(allow_null=True, help_text="The job created (null for a system task).")
    status = serializers.CharField(allow_null=True, help_text="The job's status.")
    taskId = serializers.CharField(allow_null=True, help_text="System schedules: the Celery task sent.")
