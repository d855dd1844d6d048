"""What the platform tells operators about itself, below every app: metric definitions and
their recorder (counters and histograms summed in Redis across processes and hosts), the
job context of log lines, and the liveness records of workers and beat.

It imports no app of the platform, so that the jobs app, the scheduler and the worker can
all record into it; the `observability` app reads it back for /metrics and the health checks.
"""
