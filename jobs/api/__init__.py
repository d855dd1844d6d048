"""The jobs REST API (Django REST Framework): thin adapters over `jobs.selectors` and
`jobs.services`, on the shared plumbing of `api` (base view, error answers, body parser).

    serializers/    query strings and bodies in, camelCase JSON out
    views/          one class per resource; reads through selectors, writes through services
    permissions.py  who sees, creates in and acts on what (someone else's job answers 404)
    parsers.py      the body parser, with the nesting a job's input may have
    urls.py         the routes under /api/
"""
