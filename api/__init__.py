"""The REST APIs' shared plumbing, used by every app's API (`jobs.api`, `scheduler.api`).

    views.py        ApiView, the base of every API view; path ids and body validation
    errors.py       the exception handler: every error becomes the same JSON shape, its HTTP
                    status read from the error class itself (`http_status`), so that this
                    package imports no app
    parsers.py      the JSON parser that refuses bodies over JOBS_API_MAX_BODY_BYTES (413)
    serializers.py  StrictSerializer (unknown keys refused), the id and paging bounds, the
                    error body's schema
    schema.py       the OpenAPI description of the error answers

Nothing here imports `jobs`, `scheduler` or `handlers`: the apps' APIs import this package.
"""
