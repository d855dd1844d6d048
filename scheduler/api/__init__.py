"""The schedules' REST API: a thin layer over `scheduler.selectors` and `scheduler.services`,
on the shared plumbing of `api` (base view, body limits, error answers, the answers about
organizations) and the jobs app's access policy (`jobs.selectors`); it never imports `jobs.api`."""
