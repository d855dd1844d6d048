"""Handler registration: every bad option refused at start-up with a clear message."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from handlers.registry import (
    Backoff,
    HandlerConfigurationError,
    HandlerSpec,
    RateLimit,
    _registry,
    get_handler,
    handler,
    registered_types,
    unregister,
)


def noop(ctx):
    return None


@pytest.fixture
def scratch() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        unregister(name)


def register(scratch, name, **options):
    scratch.append(name)
    return handler(name, **options)(noop)


def test_registering_a_type_twice_names_both_functions(scratch):
    register(scratch, "scratch.twice")

    def other(ctx):
        return None

    twice = r"'scratch.twice' is registered twice: by .*noop and by .*other"
    with pytest.raises(HandlerConfigurationError, match=twice):
        handler("scratch.twice")(other)


@pytest.mark.parametrize("options,text", [
    ({"queue": "nowhere"}, "queue='nowhere' is not one of JOBS_QUEUES"),
    ({"max_attempts": 0}, "max_attempts=0 must be an integer >= 1"),
    ({"priority": 11}, "priority=11 must be an integer from 1"),
    ({"concurrency": 0}, "concurrency=0 must be an integer >= 1"),
    ({"concurrency_key": "org"}, "needs a concurrency limit"),
    ({"concurrency": 1, "concurrency_key": "team"}, "must be one of org, user, project or 'input.<field>'"),
    ({"rate_limit": "ten per minute"}, "rate_limit='ten per minute': write it as"),
    ({"debounce": 2}, "debounce needs a dedup_key template"),
    ({"dedup_key": "attachment-{"}, "is not a valid template"),
    ({"dedup_key": "attachment-{a.b}"}, "may only name payload fields"),
    ({"dedup_key": "constant"}, "names no payload field"),
    ({"timeout": (10, 5)}, "hard >= soft"),
    ({"backoff": Backoff(factor=0.5)}, "needs base >= 0, factor >= 1"),
    ({"retry_on": (str,)}, "retry_on must list exception classes"),
    ({"schema": dict}, "must be a pydantic model class"),
    ({"tracked": False, "dedup_key": "x-{y}"}, "an untracked job (tracked=False) has no Job row"),
    ({"system": True, "dedup_key": "x-{y}"}, "an untracked job (tracked=False) has no Job row"),
    ({"system": True, "tracked": True}, "tracked=True contradicts system=True"),
])
def test_bad_options_are_refused_with_the_type_and_value_named(scratch, options, text):
    with pytest.raises(HandlerConfigurationError) as caught:
        register(scratch, "scratch.bad", **options)
    assert "handler 'scratch.bad'" in str(caught.value) and text in str(caught.value)
    assert get_handler("scratch.bad") is None


def test_bad_type_name():
    with pytest.raises(HandlerConfigurationError, match="a job type is 1-100 characters"):
        handler("has spaces")(noop)


def test_rate_limit_forms():
    assert RateLimit.parse("10/m") == RateLimit(10, 60)
    assert RateLimit.parse("5/10s") == RateLimit(5, 10)
    assert RateLimit.parse("100/hour") == RateLimit(100, 3600)
    assert RateLimit.parse((3, 2.5)) == RateLimit(3, 2.5)


def test_timeout_alone_sets_a_hard_limit_after_a_grace(scratch, settings):
    register(scratch, "scratch.timeout", timeout=60)
    spec = get_handler("scratch.timeout")
    assert (spec.timeout.soft, spec.timeout.hard) == (60.0, 60.0 + settings.JOBS_HARD_TIMEOUT_GRACE)


def test_dedup_template_is_filled_from_the_payload(scratch):
    register(scratch, "scratch.dedup", dedup_key="attachment-{attachment_id}")
    spec = get_handler("scratch.dedup")
    assert spec.format_dedup_key({"attachment_id": 42}) == "attachment-42"
    with pytest.raises(KeyError):
        spec.format_dedup_key({})


def test_retry_classification(scratch):
    register(scratch, "scratch.retry", never_retry_on=(ValueError,))
    spec = get_handler("scratch.retry")
    assert not spec.is_retryable(ValueError()) and spec.is_retryable(KeyError())
    register(scratch, "scratch.retry_only", retry_on=(ConnectionError,))
    only = get_handler("scratch.retry_only")
    assert only.is_retryable(ConnectionError()) and not only.is_retryable(KeyError())


def test_the_attachment_and_dossier_handlers_policies():
    attachment = get_handler("process-attachment")
    dossier = get_handler("consolidate-dossier")
    assert (attachment.queue, attachment.concurrency, attachment.debounce) == ("attachments", 1, 2)
    assert (dossier.queue, dossier.concurrency, dossier.debounce) == ("dossiers", 4, 5)
    assert attachment.format_dedup_key({"attachment_id": "a1"}) == "attachment-a1"
    assert dossier.format_dedup_key({"dossier_id": "d1"}) == "dossier-d1"
    assert attachment.max_attempts == 3 and attachment.backoff.delay(2) == 25


def test_system_check_lists_handler_errors(settings):
    # a spec that went bad after registration (its queue was removed from the settings)
    spec = HandlerSpec(type="scratch.check", func=noop, queue="gone", max_attempts=3, backoff=Backoff().resolved(),
                       priority=5)
    _registry["scratch.check"] = spec
    try:
        with pytest.raises(SystemCheckError, match="handler 'scratch.check': queue='gone' is not one of JOBS_QUEUES"):
            call_command("check")
    finally:
        unregister("scratch.check")


def test_tracked_false_declares_a_job_without_a_row_and_system_is_its_older_spelling(scratch):
    register(scratch, "scratch.rowless", tracked=False)
    register(scratch, "scratch.rowless_old", system=True)
    register(scratch, "scratch.tracked")
    names = ("scratch.rowless", "scratch.rowless_old", "scratch.tracked")
    rowless, old, tracked = (get_handler(name) for name in names)
    assert (rowless.tracked, rowless.system) == (False, True)
    assert (old.tracked, old.system) == (False, True)
    assert (tracked.tracked, tracked.system) == (True, False)
    assert rowless.policy()["system"] is True  # the API's field keeps its name
    untracked = registered_types(tracked=False)
    assert {"scratch.rowless", "scratch.rowless_old"} <= set(untracked) and "scratch.tracked" not in untracked
    assert registered_types(system=True) == untracked
    assert registered_types(system=False) == registered_types(tracked=True)
    assert "scratch.tracked" in registered_types(tracked=True)
