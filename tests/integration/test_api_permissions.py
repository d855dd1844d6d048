"""Who sees and does what: anonymous, user A, user B, an organization member, an organization
admin and staff against every endpoint. Someone else's job answers 404 (never 403) and never
shows in a list, a total or a stats figure. Then authentication: API tokens (stored hashed,
made by `manage.py create_api_token`) and sessions with CSRF."""
from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from jobs.models import Job
from tests.api_support import Cast, cast, make_person, relaxed_quotas  # noqa: F401
from tests.factories import make_job

pytestmark = pytest.mark.usefixtures("relaxed_quotas")

ROLES = ["anonymous", "a", "b", "member", "admin", "staff"]

# who may see each job of the cast
VISIBLE: dict[str, set[str]] = {
    "job_a": {"a", "staff"},
    "job_b": {"b", "staff"},
    "job_org": {"member", "admin", "staff"},
    "job_other": {"staff"},
}
# who may cancel or retry it
ACTIONABLE: dict[str, set[str]] = {
    "job_a": {"a", "staff"},
    "job_b": {"b", "staff"},
    "job_org": {"admin", "staff"},
    "job_other": {"staff"},
}
# the organization (and its project) each role belongs to
IN_ORG = {"member", "admin", "staff"}


def visible_to(role: str) -> set[str]:
    return {name for name, roles in VISIBLE.items() if role in roles}


def listed(cast: Cast, response: Any) -> set[str]:
    names = {str(job.pk): name for name, job in cast.jobs.items()}
    return {names.get(job["id"], job["id"]) for job in response.json()["jobs"]}


def assert_anonymous_refused(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Bearer"


# --- reads ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_list_shows_exactly_the_visible_jobs(cast: Cast, role: str) -> None:
    response = cast.client(role).get("/api/jobs")
    if role == "anonymous":
        return assert_anonymous_refused(response)
    assert response.status_code == 200
    assert listed(cast, response) == visible_to(role)
    assert response.json()["pagination"]["total"] == len(visible_to(role))
    # a filter naming someone else's organization or user narrows, it never widens
    other = cast.client(role).get(f"/api/jobs?orgId={cast.other_org.pk}")
    assert listed(cast, other) == visible_to(role) & {"job_other"}
    by_user = cast.client(role).get(f"/api/jobs?userId={cast.users['b'].pk}")
    assert listed(cast, by_user) == visible_to(role) & {"job_b"}
    assert by_user.json()["pagination"]["total"] == len(visible_to(role) & {"job_b"})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("job", list(VISIBLE))
def test_detail_answers_404_for_jobs_one_may_not_see(cast: Cast, role: str, job: str) -> None:
    response = cast.client(role).get(f"/api/jobs/{cast.jobs[job].pk}")
    if role == "anonymous":
        return assert_anonymous_refused(response)
    if role in VISIBLE[job]:
        assert response.status_code == 200 and response.json()["id"] == str(cast.jobs[job].pk)
    else:
        assert response.status_code == 404
        # exactly the answer for a job that does not exist: nothing tells them apart
        assert response.json() == {"detail": f"job {cast.jobs[job].pk} does not exist", "code": "not_found"}


# --- actions ----------------------------------------------------------------------------------------

SOURCE = {"cancel": "queued", "delete": "queued", "retry": "failed"}
TARGET = {"cancel": "cancelled", "delete": "cancelled", "retry": "queued"}


def act(client: APIClient, action: str, job: Job) -> Any:
    if action == "delete":
        return client.delete(f"/api/jobs/{job.pk}")
    return client.post(f"/api/jobs/{job.pk}/{action}")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("job", list(VISIBLE))
@pytest.mark.parametrize("action", ["cancel", "delete", "retry"])
def test_actions_404_for_unseen_403_for_seen_only_and_allowed_otherwise(cast: Cast, role: str, job: str,
                                                                        action: str) -> None:
    Job.objects.update(status=SOURCE[action])  # set-up: every job where the action can start
    target = cast.jobs[job]
    response = act(cast.client(role), action, target)
    target.refresh_from_db()
    if role == "anonymous":
        assert_anonymous_refused(response)
    elif role not in VISIBLE[job]:
        assert response.status_code == 404
        assert response.json()["detail"] == f"job {target.pk} does not exist"
    elif role not in ACTIONABLE[job]:
        assert response.status_code == 403
        assert f"you may not {'cancel' if action == 'delete' else action} job {target.pk}" in response.json()["detail"]
    else:
        assert response.status_code == 200, response.content
        assert target.status == TARGET[action]
        return
    assert target.status == SOURCE[action]  # refused: nothing changed


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_bulk_by_ids_acts_only_on_what_the_role_may(cast: Cast, role: str, action: str) -> None:
    Job.objects.update(status=SOURCE[action])
    body = {"ids": [str(job.pk) for job in cast.jobs.values()]}
    response = cast.client(role).post(f"/api/jobs/bulk/{action}", body, format="json")
    assert response.status_code == 200, response.content
    result = response.json()
    allowed = {name for name, roles in ACTIONABLE.items() if role in roles}
    names = {str(job.pk): name for name, job in cast.jobs.items()}
    assert {names[job_id] for job_id in result["ids"]} == allowed and result["changed"] == len(allowed)
    statuses = {names[e["id"]]: e["status"] for e in result["errors"]}
    assert statuses == {name: (403 if role in VISIBLE[name] else 404) for name in set(cast.jobs) - allowed}
    for name, job in cast.jobs.items():
        job.refresh_from_db()
        assert job.status == (TARGET[action] if name in allowed else SOURCE[action]), name


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
def test_bulk_by_filters_never_touches_other_peoples_jobs(cast: Cast, role: str) -> None:
    Job.objects.update(status="queued")
    response = cast.client(role).post("/api/jobs/bulk/cancel", {"statuses": ["queued"]}, format="json")
    allowed = {name for name, roles in ACTIONABLE.items() if role in roles}
    assert response.json()["changed"] == len(allowed) and response.json()["errors"] == []
    for name, job in cast.jobs.items():
        job.refresh_from_db()
        assert job.status == ("cancelled" if name in allowed else "queued"), name


def test_bulk_anonymous(cast: Cast) -> None:
    for action in ("cancel", "retry"):
        assert_anonymous_refused(cast.client("anonymous").post(f"/api/jobs/bulk/{action}", {"statuses": ["queued"]},
                                                               format="json"))
    assert not Job.objects.filter(status="cancelled").exists()


# --- projects and organizations ------------------------------------------------------------------------


@pytest.fixture
def stray(cast: Cast) -> Job:
    """A job in the organization's project but outside the organization (B's own): members of
    the organization must not see or count it; staff do."""
    return make_job("completed", created_by=cast.users["b"], project=cast.project)


@pytest.mark.parametrize("role", ROLES)
def test_project_list_and_stats(cast: Cast, stray: Job, role: str) -> None:
    client = cast.client(role)
    listing = client.get(f"/api/jobs/projects/{cast.project.pk}")
    stats = client.get(f"/api/jobs/projects/{cast.project.pk}/stats")
    foreign = client.get(f"/api/jobs/projects/{cast.other_project.pk}/stats")
    if role == "anonymous":
        for response in (listing, stats, foreign):
            assert_anonymous_refused(response)
        return
    if role not in IN_ORG:
        assert listing.status_code == stats.status_code == 403
        assert f"not a member of organization {cast.org.pk}" in listing.json()["detail"]
        assert foreign.status_code == 403
        return
    expected = {"job_org", str(stray.pk)} if role == "staff" else {"job_org"}
    assert listed(cast, listing) == expected
    assert listing.json()["pagination"]["total"] == len(expected)
    assert stats.json() == {"total": len(expected), "queued": 1, "running": 0,
                            "completed": len(expected) - 1, "failed": 0, "cancelled": 0}
    assert foreign.status_code == (200 if role == "staff" else 403)


@pytest.mark.parametrize("role", ROLES)
def test_org_list_stats_and_create(cast: Cast, stray: Job, role: str) -> None:
    client = cast.client(role)
    base = f"/api/v1/orgs/{cast.org.pk}/jobs"
    listing, stats = client.get(base), client.get(f"{base}/stats")
    created = client.post(base, {"type": "demo.sleep"}, format="json")
    if role == "anonymous":
        for response in (listing, stats, created):
            assert_anonymous_refused(response)
    elif role not in IN_ORG:
        assert listing.status_code == stats.status_code == created.status_code == 403
        assert created.json()["detail"] == f"you are not a member of organization {cast.org.pk}"
    else:
        assert listed(cast, listing) == {"job_org"}  # the stray job is not the organization's
        assert stats.json()["total"] == 1
        assert created.status_code == 201
        assert Job.objects.get(pk=created.json()["id"]).organization == cast.org
        return
    assert Job.objects.count() == 5  # nothing created


@pytest.mark.parametrize("role", ROLES)
def test_create_in_an_organization_or_project_one_is_not_in_answers_403(cast: Cast, role: str) -> None:
    client = cast.client(role)
    in_org = client.post("/api/jobs", {"type": "demo.sleep", "orgId": cast.org.pk}, format="json")
    in_project = client.post("/api/jobs", {"type": "demo.sleep", "projectId": cast.project.pk}, format="json")
    in_other = client.post("/api/jobs", {"type": "demo.sleep", "orgId": cast.other_org.pk}, format="json")
    own = client.post("/api/jobs", {"type": "demo.sleep"}, format="json")
    if role == "anonymous":
        for response in (in_org, in_project, in_other, own):
            assert_anonymous_refused(response)
        assert Job.objects.count() == 4
        return
    assert own.status_code == 201
    assert in_org.status_code == in_project.status_code == (201 if role in IN_ORG else 403)
    assert in_other.status_code == (201 if role == "staff" else 403)
    if role in ("a", "b", "member", "admin"):
        assert in_other.json()["detail"] == f"you are not a member of organization {cast.other_org.pk}"


def test_a_member_sees_the_organization_jobs_but_not_a_colleagues_personal_jobs(cast: Cast) -> None:
    personal = make_job("queued", created_by=cast.users["colleague"])
    assert cast.client("member").get(f"/api/jobs/{personal.pk}").status_code == 404
    assert cast.client("admin").post(f"/api/jobs/{personal.pk}/cancel").status_code == 404
    assert cast.client("colleague").get(f"/api/jobs/{personal.pk}").status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_job_types_and_quotas_need_a_signed_in_user(cast: Cast, role: str) -> None:
    for path in ("/api/job-types", "/api/quotas/me"):
        response = cast.client(role).get(path)
        if role == "anonymous":
            assert_anonymous_refused(response)
        else:
            assert response.status_code == 200


def test_the_schema_and_the_docs_are_public(db: None) -> None:
    assert APIClient().get("/api/schema/").status_code == 200
    assert APIClient().get("/api/docs/").status_code == 200


# --- authentication ---------------------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_checked(db: None) -> None:
    user = make_person("tina")
    instance, token = AuthToken.objects.create(user=user, expiry=None)
    assert token.startswith("cnv_")
    assert token not in instance.digest and len(instance.digest) == 128  # a SHA-512 digest, not the token
    assert not AuthToken.objects.filter(digest=token).exists()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/jobs").status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token[:-1]}x")
    response = client.get("/api/jobs")
    assert response.status_code == 401 and response.json()["detail"] == "Invalid token."
    client.credentials(HTTP_AUTHORIZATION="Bearer")
    assert client.get("/api/jobs").status_code == 401


def test_an_expired_token_is_refused(db: None) -> None:
    user = make_person("old")
    _, token = AuthToken.objects.create(user=user, expiry=timedelta(seconds=-1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/jobs").status_code == 401


def test_an_inactive_users_token_is_refused(db: None) -> None:
    user = make_person("gone")
    _, token = AuthToken.objects.create(user=user, expiry=None)
    user.is_active = False
    user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/jobs").status_code == 401


def test_session_authentication_requires_csrf_for_writes(db: None) -> None:
    user = make_person("browser")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/jobs").status_code == 200
    refused = client.post("/api/jobs", {"type": "demo.sleep"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert Job.objects.count() == 0
    client.get("/admin/login/")  # any page that sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post("/api/jobs", {"type": "demo.sleep"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201, accepted.content


def test_create_api_token_command(db: None) -> None:
    user = make_person("scripter")
    out = io.StringIO()
    call_command("create_api_token", "scripter", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Created an API token for scripter (expires ")
    token = lines[1]
    instance = AuthToken.objects.get(user=user)
    assert timedelta(days=89) < instance.expiry - timezone.now() <= timedelta(days=90)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/quotas/me").status_code == 200

    quiet = io.StringIO()
    call_command("create_api_token", "scripter", "--no-expiry", "--quiet", stdout=quiet)
    assert quiet.getvalue().strip().startswith("cnv_") and len(quiet.getvalue().split()) == 1
    assert AuthToken.objects.filter(user=user, expiry__isnull=True).count() == 1
    call_command("create_api_token", "scripter", "--days", "7", stdout=io.StringIO())
    assert AuthToken.objects.filter(user=user, expiry__lt=timezone.now() + timedelta(days=7, minutes=1)).exists()


@pytest.mark.parametrize("args, message", [
    (["nobody"], "USERNAME: no user 'nobody'"),
    (["scripter", "--days", "0"], "--days: must be from 1 to 3650, got 0"),
    (["scripter", "--days", "100000"], "--days: must be from 1 to 3650"),
])
def test_create_api_token_command_errors(db: None, args: list[str], message: str) -> None:
    make_person("scripter")
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        call_command("create_api_token", *args, stdout=io.StringIO())
    assert not AuthToken.objects.exists()


def test_create_api_token_refuses_an_inactive_user(db: None) -> None:
    make_person("asleep", is_active=False)
    with pytest.raises(CommandError, match="inactive"):
        call_command("create_api_token", "asleep", stdout=io.StringIO())


def test_create_api_token_has_help_on_every_argument() -> None:
    from jobs.management.commands.create_api_token import Command

    parser = Command().create_parser("manage.py", "create_api_token")
    own = [a for a in parser._actions if a.dest in ("username", "days", "no_expiry", "quiet")]
    assert len(own) == 4 and all(action.help for action in own)


def test_unknown_job_ids_and_foreign_ids_look_the_same(cast: Cast) -> None:
    missing = uuid.uuid4()
    a = cast.client("a")
    unknown = a.post(f"/api/jobs/{missing}/cancel")
    foreign = a.post(f"/api/jobs/{cast.jobs['job_b'].pk}/cancel")
    assert unknown.status_code == foreign.status_code == 404
    assert unknown.json()["detail"].replace(str(missing), "X") == foreign.json()["detail"].replace(
        str(cast.jobs["job_b"].pk), "X")
