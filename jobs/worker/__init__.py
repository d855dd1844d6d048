"""What runs inside a Celery worker. `jobs.tasks` holds the thin Celery adapters onto it.

- `run`: one delivery of run_job as a pipeline of named steps: the rate limit's start, the
  claim, the input check, the handler, and its outcome recorded by one service verb.
- `outcomes`: what a handler's return or exception means (an `Ending`), and the verb that records it.
- `delivery`: run_job's wait for the database when the claim cannot reach it.
- `untracked`: an untracked job (no Job row), run with a context that logs.
- `link`: what a JobContext writes through: the Job row, or the worker log.
- `heartbeat`: the thread that beats for the running job, enforces cancels, writes marks.
- `interrupt`: the job this process runs, and SIGUSR2 raising JobInterrupted into it.
- `shutdown`: a worker's warm shutdown: running jobs finish in time or go back to queued.
- `marks`: how far workers have taken each queue (the sweeper reads them).
- `outage`: what an execution does while the database is unreachable.
- `session`: turns on commits that skip the disk in worker processes (`jobs.storage.durability`).
- `inline`: the in-process runner that tests' inline mode uses, registered into publishing.
- `liveness`: the worker's liveness record in Redis and its liveness file, written every few seconds.
- `log_context`: the job a log line is about, bound while a task runs (`telemetry.logs`).

The worker calls the services (`jobs.services`) for every write to a Job. Outside it, only
`jobs.tasks` and the jobs app's start-up (signals, the inline runner) import it; publishing,
the services and the scheduler never do.
"""
