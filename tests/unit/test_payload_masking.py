"""Who sees what of a job's input and result (`jobs.selectors.payload`), the `sensitive=` option
that feeds it, and the API's presenter that applies it. No database: users are stand-ins with
their permissions, jobs unsaved rows."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from handlers.registry import HandlerConfigurationError, get_handler, handler, unregister
from jobs import presenters
from jobs.models import Job, Membership
from jobs.selectors.payload import MASK, is_owner, visible_payload
from jobs.services.permissions import owns

SECRETS = {"user": "ada", "password": "hunter2", "token": "tok-1", "note": "hi"}


class Person:
    """A signed-in user with the given permissions (and no others)."""

    is_authenticated = True
    is_staff = True

    def __init__(self, pk: int, *permissions: str, active: bool = True) -> None:
        self.pk = pk
        self.permissions = set(permissions)
        self.is_active = active

    def has_perm(self, permission: str) -> bool:
        return permission in self.permissions


class Anonymous:
    is_authenticated = False
    pk = None


def job(job_type: str = "scratch.secret", data: Any = None, **fields: Any) -> Job:
    return Job(type=job_type, input=dict(SECRETS) if data is None else data, result={"ok": True}, **fields)


@pytest.fixture(autouse=True)
def scratch() -> Iterator[None]:
    handler("scratch.secret", sensitive=("password", "token", "absent"))(lambda ctx: None)
    yield
    unregister("scratch.secret")


PAYLOAD = "jobs.view_job_payload"
SENSITIVE = "jobs.view_sensitive_input"
NO_ORGS: dict[int, str] = {}


def test_a_viewer_with_the_payload_permission_sees_sensitive_fields_masked() -> None:
    seen = visible_payload(job(created_by_id=1), Person(2, PAYLOAD), memberships=NO_ORGS)
    assert seen.input == {"user": "ada", "password": MASK, "token": MASK, "note": "hi"}
    assert seen.result == {"ok": True} and seen.shown
    assert seen.masked == ("password", "token")  # only fields the input has
    assert seen.masked_note == ("Sensitive input fields masked (password, token): seeing them needs the permission "
                                "jobs.view_sensitive_input (or being the job's owner).")


def test_the_sensitive_permission_shows_them() -> None:
    seen = visible_payload(job(created_by_id=1), Person(2, PAYLOAD, SENSITIVE), memberships=NO_ORGS)
    assert seen.input == SECRETS and seen.masked == ()


def test_without_the_payload_permission_nothing_is_shown_and_the_sentence_names_it() -> None:
    for viewer in (Person(2), Person(2, SENSITIVE), Person(2, PAYLOAD, SENSITIVE, active=False), Anonymous()):
        seen = visible_payload(job(created_by_id=1), viewer, memberships=NO_ORGS)
        assert (seen.input, seen.result, seen.shown) == (None, None, False), viewer
        assert "needs the permission jobs.view_job_payload" in seen.hidden


def test_the_owner_sees_everything_without_any_permission() -> None:
    assert visible_payload(job(created_by_id=7), Person(7), memberships=NO_ORGS).input == SECRETS
    # an admin of the job's organization owns it; a member does not
    org_job = job(created_by_id=1, organization_id=30)
    assert visible_payload(org_job, Person(8), memberships={30: Membership.Role.ADMIN}).input == SECRETS
    assert not visible_payload(org_job, Person(8), memberships={30: Membership.Role.MEMBER}).shown


def test_no_viewer_is_the_shell_which_sees_everything() -> None:
    assert visible_payload(job()).input == SECRETS


def test_a_type_with_no_sensitive_fields_or_unknown_here_masks_nothing() -> None:
    for job_type in ("demo.sleep", "not.registered.here"):
        seen = visible_payload(job(job_type), Person(2, PAYLOAD), memberships=NO_ORGS)
        assert seen.input == SECRETS and seen.masked == () and seen.masked_note == ""


def test_an_input_that_is_not_an_object_is_shown_as_it_is() -> None:
    seen = visible_payload(job(data=["password"]), Person(2, PAYLOAD), memberships=NO_ORGS)
    assert seen.input == ["password"] and seen.masked == ()


@pytest.mark.parametrize("who,memberships,owner", [
    ("creator", {}, True), ("org admin", {30: "admin"}, True), ("org member", {30: "member"}, False),
    ("stranger", {}, False), ("anonymous", {}, False),
])
def test_ownership_is_the_creator_or_an_admin_of_the_organization(who: str, memberships: dict[int, str],
                                                                  owner: bool) -> None:
    user: Any = Anonymous() if who == "anonymous" else Person(7 if who == "creator" else 8)
    row = job(created_by_id=7, organization_id=30)
    assert is_owner(user, row, memberships) is owner
    assert owns(user, row, memberships) is owner  # the services' check reads the same rule


# --- the API's presenter ---------------------------------------------------------------------------


def test_the_presenter_applies_the_rule_for_a_viewer() -> None:
    row = job()
    masked = presenters.job_to_dict(row, viewer=Person(2, PAYLOAD), memberships=NO_ORGS)
    assert masked["input"]["password"] == MASK and masked["maskedInputFields"] == ["password", "token"]
    assert masked["payloadHidden"] is None and masked["result"] == {"ok": True}
    hidden = presenters.job_to_dict(row, viewer=Person(2), memberships=NO_ORGS)
    assert hidden["input"] is None and hidden["result"] is None
    assert "jobs.view_job_payload" in hidden["payloadHidden"]
    whole = presenters.job_to_dict(row)
    assert whole["input"] == SECRETS and whole["maskedInputFields"] == [] and whole["payloadHidden"] is None


# --- declaring sensitive fields -------------------------------------------------------------------


def noop(ctx: Any) -> None:
    return None


@pytest.fixture
def names() -> Iterator[list[str]]:
    registered: list[str] = []
    yield registered
    for name in registered:
        unregister(name)


def test_sensitive_is_kept_on_the_spec_and_in_the_policy(names: list[str]) -> None:
    names.append("scratch.listed")
    handler("scratch.listed", sensitive=["api_key", "X-Auth"])(noop)
    spec = get_handler("scratch.listed")
    assert spec is not None and spec.sensitive == ("api_key", "X-Auth")
    assert spec.policy()["sensitive"] == ["api_key", "X-Auth"]
    names.append("scratch.plain")
    handler("scratch.plain")(noop)
    assert get_handler("scratch.plain").sensitive == ()  # type: ignore[union-attr]


@pytest.mark.parametrize("value,text", [
    ("password", "sensitive='password' must be a tuple of top-level input keys, e.g. sensitive=('password',)"),
    (("auth.password",), "names top-level input keys only (the whole value is masked); 'auth.password' looks like"),
    (("token", "token"), "sensitive=('token', 'token') names 'token' more than once"),
    (("token", 3), "must name input keys as non-empty strings; not 3"),
    (("",), "must name input keys as non-empty strings; not ''"),
])
def test_a_bad_sensitive_option_is_refused_naming_it(names: list[str], value: Any, text: str) -> None:
    names.append("scratch.bad")
    with pytest.raises(HandlerConfigurationError, match=r"^handler 'scratch.bad': ") as refused:
        handler("scratch.bad", sensitive=value)(noop)
    assert text in str(refused.value)
    assert get_handler("scratch.bad") is None
