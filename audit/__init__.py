"""The audit log: an append-only record of what operators did (who, when, from where, why).

It imports no other app of the project, so that every app that acts on behalf of a person
(jobs, scheduler, the API's tokens) can record through it. `record` writes one entry;
`Actor` says who acts and through which door (admin, API, command).
"""
