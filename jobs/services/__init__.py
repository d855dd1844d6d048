"""Every write to a Job goes through here, one module per phase of a job's life:

- `transitions`: the one place a status changes, an UPDATE guarded by `jobs.states`;
- `create`:      validate and store new jobs (dedup, debounce), published after the commit;
- `submit`:      a person's request for jobs, within their quota;
- `gates`:       admission of jobs waiting for room in their type's concurrency or rate limit;
- `execution`:   what a worker's delivery does: claim, heartbeat, then one verb per outcome
                 (complete, fail, acknowledge a cancel, release);
- `operations`:  what users and operators do: cancel, retry, in bulk;
- `pauses`:      pause and resume a queue or a job type;
- `tenancy`:     organizations, projects and members (the `tenancy` command);
- `tokens`:      API tokens made and revoked;
- `permissions`: who may do what (checked by the services, so every door refuses alike);
- `expiry`:      a queued job past its queue-wait timeout (or that can never run) ends failed;
- `rescuer`:     running jobs whose worker died go back to queued (`Job.objects.stale`);
- `sweeper`:     queued jobs that no message will deliver get one (`Job.objects.unclaimed`),
                 then the overdue ones expire; the admin lists the same named states;
- `retention`:   deleting finished jobs and pruning Celery's result rows;
- `untracked`:   sending an untracked job (a type with no Job row).

Hand-written SQL is in `jobs.storage`; publishing to the broker in `jobs.publishing`. Callers
use the names below (`from jobs import services; services.job_cancel(...)`).
"""
from __future__ import annotations

from jobs.services import gates, sweeper
from jobs.services.create import JobCreated, job_create, jobs_create_bulk
from jobs.services.execution import (
    Liveness,
    job_acknowledge_cancel,
    job_cancel_requested,
    job_claim,
    job_complete,
    job_fail,
    job_fail_hard_timeout,
    job_heartbeat,
    job_release,
)
from jobs.services.expiry import job_expire
from jobs.services.operations import BulkOutcome, job_cancel, job_retry, jobs_cancel_bulk, jobs_retry_bulk
from jobs.services.pauses import pause_lift, pause_set
from jobs.services.rescuer import job_rescue, jobs_rescue_stale
from jobs.services.retention import jobs_delete_expired
from jobs.services.submit import job_submit, jobs_submit_bulk
from jobs.services.sweeper import jobs_sweep
from jobs.services.tenancy import (
    MembershipAdded,
    OrganizationCreated,
    ProjectCreated,
    membership_add,
    membership_remove,
    organization_create,
    project_create,
)
from jobs.services.tokens import api_token_create, api_tokens_revoke
from jobs.services.transitions import _explain_miss, _transition
from jobs.services.untracked import untracked_job_send
from jobs.states import AttemptOutcome
from jobs.validation import check_input_schema, validated_input

# older name of AttemptOutcome, the attempt outcomes (`jobs.states`)
Outcome = AttemptOutcome

# the older name of untracked_job_send, from when a job without a row was called a system job
system_job_send = untracked_job_send

__all__ = [
    "BulkOutcome",
    "Liveness",
    "MembershipAdded",
    "OrganizationCreated",
    "Outcome",
    "ProjectCreated",
    "api_token_create",
    "api_tokens_revoke",
    "_explain_miss",
    "_transition",
    "check_input_schema",
    "gates",
    "job_acknowledge_cancel",
    "job_cancel",
    "job_cancel_requested",
    "job_claim",
    "job_complete",
    "JobCreated",
    "job_create",
    "job_expire",
    "job_fail",
    "job_fail_hard_timeout",
    "job_heartbeat",
    "job_release",
    "job_rescue",
    "job_retry",
    "pause_lift",
    "pause_set",
    "job_submit",
    "membership_add",
    "membership_remove",
    "organization_create",
    "project_create",
    "jobs_cancel_bulk",
    "jobs_create_bulk",
    "jobs_delete_expired",
    "jobs_rescue_stale",
    "jobs_retry_bulk",
    "jobs_submit_bulk",
    "jobs_sweep",
    "sweeper",
    "system_job_send",
    "untracked_job_send",
    "validated_input",
]
