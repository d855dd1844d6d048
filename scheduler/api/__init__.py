"""The schedules' REST API: a thin layer over `scheduler.selectors` and `scheduler.services`,
with the jobs API's authentication, permission helpers, body limits and error answers."""
