"""The operators' console: pages above the admin, in the admin's frame.

    models.py     the time buckets (JobMinute) and the rollup's mark
    rollup.py     computes the buckets from the jobs table (the system schedule
                  console:rollup-minutes runs it every 15 seconds, `tasks.py`)
    selectors/    the reads behind the overview: bucket sums and series, at-risk jobs, schedules
    overview.py   the overview's shared reading, computed once per JOBS_CONSOLE_REFRESH_SECONDS
    shared.py     one reading for every viewer and web process (JSON in Redis, a short lock)
    panels.py     the overview's panels, from the shared readings
    presenters.py how numbers, times and links to the job list are written
    views.py      the pages; urls.py mounts them under /admin/console/
    static/console/live.js  the live refresh every console page shares

It may import jobs, scheduler, observability, telemetry and handlers; nothing imports it.
"""
