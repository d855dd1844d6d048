"""The console's reads behind the overview: `buckets` (the time buckets' totals, series and
percentiles), `at_risk` (the jobs to look at), `schedules` (their ticks, missed and late).
Nothing here writes; the overview's shared reading (`console.overview`) calls them."""
