"""`manage.py tenancy`: organizations, projects and members set up from the shell.

Each write is checked in the database, each refusal for its message (naming the value) and for
changing nothing; repeating a create is a success that writes nothing. The real command line
is run once for its exit statuses.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs import selectors
from jobs.management.commands.tenancy import Command
from jobs.models import Membership, Organization, Project
from jobs.services import tenancy as tenancy_services
from jobs.tenancy_errors import TenancyValidationError
from tests.factories import make_membership, make_org, make_project, make_user
from tests.processes import BASE_DIR, child_environment


def run(*args: str) -> str:
    """`manage.py tenancy ARGS` with stdout captured; CommandError propagates."""
    out = StringIO()
    call_command("tenancy", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json"))


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return str(caught.value)


def table_rows(out: str) -> list[list[str]]:
    """The rows of a table printed by the command, cells split on runs of two spaces, without
    the header and the count line under it."""
    lines = [line for line in out.splitlines() if line.strip()]
    return [[cell.strip() for cell in line.split("  ") if cell.strip()] for line in lines[1:-1]]


# --- organizations ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_org_create_stores_the_organization_with_its_quotas() -> None:
    out = run("org", "create", "acme", "--name", "Acme Ltd", "--jobs-per-minute", "10", "--jobs-per-day", "0")
    org = Organization.objects.get(slug="acme")
    assert (org.name, org.jobs_per_minute, org.jobs_per_hour, org.jobs_per_day, org.max_payload_bytes) == (
        "Acme Ltd", 10, None, 0, None
    )
    assert f"Created organization acme (Acme Ltd), id {org.pk}." in out


@pytest.mark.django_db
def test_org_create_again_as_asked_succeeds_and_writes_nothing() -> None:
    first = run_json("org", "create", "acme", "--name", "Acme", "--max-payload-bytes", "1000")
    assert first["created"] is True
    again = run("org", "create", "acme", "--name", "Acme", "--max-payload-bytes", "1000")
    assert "exists already as asked; nothing changed" in again
    # a quota not given is not compared: the script does not own it
    Organization.objects.filter(slug="acme").update(jobs_per_hour=50)
    data = run_json("org", "create", "acme", "--name", "Acme")
    assert (data["created"], data["id"], data["jobsPerHour"]) == (False, first["id"], 50)
    assert Organization.objects.count() == 1


@pytest.mark.django_db
def test_org_create_over_one_with_other_fields_names_each_difference_and_changes_nothing() -> None:
    acme = Organization.objects.create(slug="acme", name="Acme", jobs_per_minute=5)
    message = refused("org", "create", "acme", "--name", "Acme Corp", "--jobs-per-minute", "10")
    assert message == (
        "organization 'acme' exists already with name 'Acme' (not 'Acme Corp'), jobs_per_minute 5 (not 10); "
        "nothing was changed"
    )
    org = Organization.objects.get()
    assert (org.pk, org.name, org.jobs_per_minute) == (acme.pk, "Acme", 5)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Acme Corp", "--name", "Acme"], "SLUG: 'Acme Corp' is not a slug: use only letters, digits, hyphens"),
        (["a" * 101, "--name", "Acme"], "SLUG: 'aaaa"),
        (["acme", "--name", "   "], "--name: must not be empty"),
        (["acme", "--name", "x" * 201], "--name: is 201 characters, over the limit of 200"),
        (["acme", "--name", "Acme", "--jobs-per-hour", "-1"], "--jobs-per-hour: must be from 0 to 2147483647, got -1"),
        (["acme", "--name", "Acme", "--max-payload-bytes", str(2**31)], "--max-payload-bytes: must be from 0"),
        (["acme", "--name", "Acme", "--jobs-per-day", "lots"], "argument --jobs-per-day: invalid int value: 'lots'"),
        (["acme"], "the following arguments are required: --name"),
    ],
)
def test_org_create_refuses_a_bad_value_naming_it(args: list[str], message: str) -> None:
    assert message in refused("org", "create", *args)
    assert not Organization.objects.exists()


@pytest.mark.django_db
def test_org_list_counts_members_and_projects() -> None:
    acme = Organization.objects.create(slug="acme", name="Acme", jobs_per_minute=3)
    beta = Organization.objects.create(slug="beta", name="Beta")
    for username in ("alice", "bob"):
        make_membership(make_user(username), acme)
    for name in ("Reports", "Exports", "Imports"):
        make_project(acme, name)

    rows = table_rows(run("org", "list"))
    assert [row[:5] for row in rows] == [["acme", "Acme", str(acme.pk), "2", "3"],
                                         ["beta", "Beta", str(beta.pk), "0", "0"]]
    data = run_json("org", "list")["organizations"]
    assert [(o["slug"], o["members"], o["projects"], o["jobsPerMinute"]) for o in data] == [
        ("acme", 2, 3, 3), ("beta", 0, 0, None)
    ]


@pytest.mark.django_db
def test_org_list_of_nothing_says_so() -> None:
    assert run("org", "list") == "No organizations.\n"
    assert run_json("org", "list") == {"organizations": []}


# --- projects --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_project_create_prints_its_id_and_again_finds_the_same_one() -> None:
    acme = make_org()
    data = run_json("project", "create", "--org", acme.slug, "Reports")
    project = Project.objects.get()
    assert data == {"id": project.pk, "name": "Reports", "orgId": acme.pk, "orgSlug": acme.slug,
                    "createdAt": data["createdAt"], "created": True}
    assert project.organization_id == acme.pk
    # by id as well as by slug
    again = run("project", "create", "--org", str(acme.pk), "Reports")
    assert again == f"Project {project.pk} (Reports) exists already in {acme.slug}; nothing changed.\n"
    assert Project.objects.count() == 1


@pytest.mark.django_db
def test_project_names_are_per_organization() -> None:
    acme, beta = make_org(), make_org()
    run("project", "create", "--org", acme.slug, "Reports")
    run("project", "create", "--org", beta.slug, "Reports")
    assert sorted(Project.objects.values_list("organization__slug", flat=True)) == sorted([acme.slug, beta.slug])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "nope", "Reports"], "--org: no organization with slug or id 'nope'"),
        (["--org", "{org}", " "], "NAME: must not be empty"),
        (["--org", "{org}", "reports"], "has a project 'Reports' (id {project}) already, which differs from "
                                        "'reports' only in case; nothing was changed"),
        (["Reports"], "the following arguments are required: --org"),
    ],
)
def test_project_create_refuses_naming_the_value(args: list[str], message: str) -> None:
    acme = make_org()
    existing = make_project(acme, "Reports")
    filled = [arg.format(org=acme.slug) for arg in args]
    assert message.format(project=existing.pk) in refused("project", "create", *filled)
    assert list(Project.objects.all()) == [existing]


@pytest.mark.django_db
def test_project_list_all_or_one_organization_s() -> None:
    acme, beta = Organization.objects.create(slug="acme", name="Acme"), Organization.objects.create(slug="beta",
                                                                                                   name="Beta")
    reports, exports = make_project(acme, "Reports"), make_project(acme, "Exports")
    loose, other = make_project(None, "Loose"), make_project(beta, "Other")

    rows = table_rows(run("project", "list"))
    assert [row[:3] for row in rows] == [
        [str(exports.pk), "Exports", "acme"], [str(reports.pk), "Reports", "acme"],
        [str(other.pk), "Other", "beta"], [str(loose.pk), "Loose", "-"],
    ]
    data = run_json("project", "list", "--org", "acme")["projects"]
    assert [p["id"] for p in data] == [exports.pk, reports.pk]
    assert run("project", "list", "--org", "beta").endswith("1 project(s).\n")
    assert "--org: no organization with slug or id 'gamma'" in refused("project", "list", "--org", "gamma")
    Project.objects.filter(organization=beta).delete()
    assert run("project", "list", "--org", "beta") == "No projects in beta.\n"


# --- members ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_member_add_change_role_repeat_and_remove() -> None:
    alice, acme = make_user("alice"), make_org()

    out = run("member", "add", "--org", acme.slug, "alice")
    assert out == f"Added alice to {acme.slug} as member.\n"
    assert Membership.objects.get(user=alice, organization=acme).role == "member"
    assert selectors.may_use_organization(user=alice, organization_id=acme.pk)
    assert not selectors.may_act(user=alice, owner_id=None, organization_id=acme.pk)

    out = run("member", "add", "--org", acme.slug, "alice", "--role", "admin")
    assert out == f"Changed alice's role in {acme.slug} from member to admin.\n"
    assert selectors.may_act(user=alice, owner_id=None, organization_id=acme.pk)

    data = run_json("member", "add", "--org", acme.slug, "alice", "--role", "admin")
    assert (data["created"], data["previousRole"], data["role"], data["username"]) == (False, "admin", "admin",
                                                                                       "alice")
    assert run("member", "add", "--org", acme.slug, "alice", "--role", "admin") == (
        f"alice is a member of {acme.slug} as admin already; nothing changed.\n"
    )
    assert Membership.objects.count() == 1

    out = run("member", "remove", "--org", acme.slug, "alice")
    assert out == f"Removed alice (admin) from {acme.slug}.\n"
    assert not Membership.objects.exists()
    assert not selectors.may_use_organization(user=alice, organization_id=acme.pk)

    message = refused("member", "remove", "--org", acme.slug, "alice")
    assert message == f"user 'alice' is not a member of organization '{acme.slug}'"


@pytest.mark.django_db
def test_member_remove_keeps_the_user_s_other_memberships() -> None:
    alice, acme, beta = make_user("alice"), make_org(), make_org()
    make_membership(alice, acme, Membership.Role.ADMIN)
    make_membership(alice, beta)
    data = run_json("member", "remove", "--org", acme.slug, "alice")
    assert (data["orgSlug"], data["role"], data["removed"]) == (acme.slug, "admin", True)
    assert list(Membership.objects.values_list("organization__slug", flat=True)) == [beta.slug]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "--org", "nope", "alice"], "--org: no organization with slug or id 'nope'"),
        (["add", "--org", "{org}", "bob"], "USERNAME: no user 'bob'"),
        (["add", "--org", "{org}", "alice", "--role", "owner"], "--role: unknown role 'owner'; roles: admin, member"),
        (["add", "--org", "{org}", "alice", "--role", "Admin"], "--role: unknown role 'Admin'"),
        (["remove", "--org", "nope", "alice"], "--org: no organization with slug or id 'nope'"),
        (["remove", "--org", "{org}", "bob"], "USERNAME: no user 'bob'"),
        (["list", "--user", "bob"], "--user: no user 'bob'"),
        (["list", "--org", "nope"], "--org: no organization with slug or id 'nope'"),
    ],
)
def test_member_commands_refuse_an_unknown_value_naming_it(args: list[str], message: str) -> None:
    alice, acme = make_user("alice"), make_org()
    make_membership(alice, acme)
    filled = [arg.format(org=acme.slug) for arg in args]
    assert message in refused("member", *filled)
    assert list(Membership.objects.values_list("user__username", "organization__slug", "role")) == [
        ("alice", acme.slug, "member")
    ]


@pytest.mark.django_db
def test_member_list_by_organization_and_by_user() -> None:
    acme = Organization.objects.create(slug="acme", name="Acme")
    beta = Organization.objects.create(slug="beta", name="Beta")
    alice, bob = make_user("alice"), make_user("bob")
    make_membership(bob, acme)
    make_membership(alice, acme, Membership.Role.ADMIN)
    make_membership(alice, beta)

    assert [row[:3] for row in table_rows(run("member", "list"))] == [
        ["acme", "alice", "admin"], ["acme", "bob", "member"], ["beta", "alice", "member"],
    ]
    assert [row[:3] for row in table_rows(run("member", "list", "--org", "acme"))] == [
        ["acme", "alice", "admin"], ["acme", "bob", "member"],
    ]
    data = run_json("member", "list", "--user", "alice")["memberships"]
    assert [(m["orgSlug"], m["username"], m["userId"], m["role"]) for m in data] == [
        ("acme", "alice", alice.pk, "admin"), ("beta", "alice", alice.pk, "member"),
    ]
    assert run("member", "list", "--org", "beta", "--user", "bob") == "No members match.\n"


# --- the services, for what the command cannot pass -------------------------------------------


@pytest.mark.django_db
def test_membership_add_refuses_a_role_that_is_no_string() -> None:
    alice, acme = make_user("alice"), make_org()
    with pytest.raises(TenancyValidationError, match="role: unknown role None; roles: admin, member"):
        tenancy_services.membership_add(organization=acme, user=alice, role=None)  # type: ignore[arg-type]
    assert not Membership.objects.exists()


@pytest.mark.django_db
def test_organization_create_refuses_a_quota_that_is_no_integer() -> None:
    with pytest.raises(TenancyValidationError, match="jobs_per_day: must be a whole number, got '5'"):
        tenancy_services.organization_create(slug="acme", name="Acme", jobs_per_day="5")  # type: ignore[arg-type]
    assert not Organization.objects.exists()


# --- the command line itself ------------------------------------------------------------------


def test_every_subcommand_and_argument_has_help() -> None:
    parser = Command().create_parser("manage.py", "tenancy")
    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if not choice.help:
                        missing.append(f"{path} {choice.dest}")
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(parser, "tenancy")
    assert missing == []
    assert Command.help


@pytest.mark.django_db(transaction=True)
def test_the_shell_gets_exit_status_0_for_a_repeat_and_1_for_a_refusal() -> None:
    def shell(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "tenancy", *args],
            cwd=BASE_DIR, env=child_environment(), capture_output=True, text=True, timeout=60,
        )

    for _ in range(2):
        done = shell("org", "create", "acme", "--name", "Acme")
        assert done.returncode == 0, done.stderr
    assert "exists already as asked" in done.stdout

    done = shell("org", "create", "acme", "--name", "Other name")
    assert done.returncode == 1
    assert "organization 'acme' exists already with name 'Acme' (not 'Other name')" in done.stderr
    assert "Traceback" not in done.stderr

    done = shell("member", "add", "--org", "acme", "nobody", "--role", "admin")
    assert done.returncode == 1
    assert "USERNAME: no user 'nobody'" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(Organization.objects.values_list("slug", "name")) == [("acme", "Acme")]
    assert not Membership.objects.exists()
