"""The REST API (Django REST Framework): thin adapters over `jobs.selectors` and `jobs.services`.

    serializers.py  query strings and bodies in, camelCase JSON out (the seeds' contracts)
    views.py        one class per resource; reads through selectors, writes through services
    permissions.py  who sees, creates in and acts on what (someone else's job answers 404)
    parsers.py      the JSON parser that refuses bodies over JOBS_API_MAX_BODY_BYTES (413)
    errors.py       the one place platform errors become HTTP answers
    urls.py         the routes under /api/
"""
