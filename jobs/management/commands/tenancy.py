"""`manage.py tenancy org|project|member ...`: set up organizations, their projects and their
members from the shell, and list them.

Organizations are named by slug (or id), users by username, projects by id (they have no
slug). Writes go through `jobs.services.tenancy`, which makes each verb safe to repeat: a
create that finds the same row says so and exits 0, so a set-up script can run again; a
create that finds the row with other fields, an unknown organization, user or role, or a bad
value is a CommandError naming it, and changes nothing.
"""
from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import presenters, selectors
from jobs.errors import ConveyorError, JobValidationError
from jobs.models import Membership, Organization, Project
from jobs.selectors import tenancy as tenancy_selectors
from jobs.services import tenancy as tenancy_services

ROLES = ", ".join(Membership.Role.values)

# the service's field names as the user typed them, per subcommand
_QUOTA_OPTIONS = {field: "--" + field.replace("_", "-") for field in tenancy_services.QUOTA_FIELDS}
_OPTION_FOR_FIELD = {
    ("org", "create"): {"slug": "SLUG", "name": "--name", **_QUOTA_OPTIONS},
    ("project", "create"): {"name": "NAME"},
    ("member", "add"): {"role": "--role"},
}


class Command(BaseCommand):
    help = (
        "Creates and lists organizations and their projects, and adds, removes and lists their members "
        "with a role. Run `manage.py tenancy org|project|member --help` for the actions of each."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        entities = parser.add_subparsers(dest="entity", metavar="ENTITY", required=True)
        self._add_org_arguments(entities)
        self._add_project_arguments(entities)
        self._add_member_arguments(entities)

    def _add_org_arguments(self, entities: Any) -> None:
        org = entities.add_parser("org", help="Create or list organizations.",
                                  description="Create or list organizations.")
        actions = org.add_subparsers(dest="action", metavar="ACTION", required=True)
        create = actions.add_parser(
            "create",
            help="Create an organization.",
            description="Create an organization. If the slug exists with the same name (and the quotas given), "
            "nothing changes and the command succeeds; with other values it fails and changes nothing.",
        )
        create.add_argument("slug", metavar="SLUG",
                            help="Its slug, unique: letters, digits, hyphens and underscores (e.g. acme).")
        create.add_argument("--name", required=True, metavar="NAME", help="Its display name (e.g. \"Acme Ltd\").")
        for option, what in (
            ("--jobs-per-minute", "Jobs a member may create per minute here"),
            ("--jobs-per-hour", "Jobs a member may create per hour here"),
            ("--jobs-per-day", "Jobs a member may create per day here"),
        ):
            suffix = option.removeprefix("--jobs-per-").upper()
            create.add_argument(option, type=int, metavar="N",
                                help=f"{what} (0: no limit). Default: JOBS_QUOTA_PER_{suffix} applies.")
        create.add_argument("--max-payload-bytes", type=int, metavar="N",
                            help="Largest job input in bytes here; it can only lower JOBS_MAX_PAYLOAD_BYTES. "
                            "Default: that setting applies.")
        create.add_argument("--json", action="store_true",
                            help="Print the organization as one JSON object, with \"created\": true or false.")

        listing = actions.add_parser("list", help="List organizations by slug.",
                                     description="List organizations by slug, with their members and projects "
                                     "counted.")
        listing.add_argument("--json", action="store_true",
                             help="Print {\"organizations\": [...]} as one JSON object, quotas included.")

    def _add_project_arguments(self, entities: Any) -> None:
        project = entities.add_parser("project", help="Create or list projects.",
                                      description="Create or list projects.")
        actions = project.add_subparsers(dest="action", metavar="ACTION", required=True)
        create = actions.add_parser(
            "create",
            help="Create a project in an organization.",
            description="Create a project in an organization and print its id (projects have no slug: "
            "jobs name them by id). If the organization has a project of that name, nothing changes and the "
            "command succeeds with its id; a name that differs from one there only in case is refused.",
        )
        create.add_argument("name", metavar="NAME", help="The project's name, unique within its organization.")
        create.add_argument("--org", required=True, metavar="SLUG-or-ID",
                            help="The organization it belongs to (slug or id).")
        create.add_argument("--json", action="store_true",
                            help="Print the project as one JSON object, with \"created\": true or false.")

        listing = actions.add_parser("list", help="List projects.",
                                     description="List projects by organization and name.")
        listing.add_argument("--org", metavar="SLUG-or-ID", help="Only this organization's projects (slug or id).")
        listing.add_argument("--json", action="store_true", help="Print {\"projects\": [...]} as one JSON object.")

    def _add_member_arguments(self, entities: Any) -> None:
        member = entities.add_parser("member", help="Add, remove or list an organization's members.",
                                     description="Add, remove or list an organization's members.")
        actions = member.add_subparsers(dest="action", metavar="ACTION", required=True)
        add = actions.add_parser(
            "add",
            help="Add a user to an organization with a role, or change their role.",
            description="Add a user to an organization with a role. A member already gets the role given "
            f"(roles: {ROLES}; an admin may also act on the organization's jobs: cancel, retry).",
        )
        add.add_argument("username", metavar="USERNAME", help="The user to add.")
        add.add_argument("--org", required=True, metavar="SLUG-or-ID", help="The organization (slug or id).")
        add.add_argument("--role", default=Membership.Role.MEMBER.value, metavar="ROLE",
                         help=f"Their role: one of {ROLES}. Default: member.")
        add.add_argument("--json", action="store_true",
                         help="Print the membership as one JSON object, with \"created\" and \"previousRole\".")

        remove = actions.add_parser(
            "remove",
            help="Remove a user from an organization.",
            description="Remove a user from an organization. Their jobs stay in it; they no longer see the "
            "organization's other jobs nor create jobs there.",
        )
        remove.add_argument("username", metavar="USERNAME", help="The member to remove.")
        remove.add_argument("--org", required=True, metavar="SLUG-or-ID", help="The organization (slug or id).")
        remove.add_argument("--json", action="store_true",
                            help="Print the removed membership as one JSON object.")

        listing = actions.add_parser("list", help="List members with their role.",
                                     description="List memberships by organization and username.")
        listing.add_argument("--org", metavar="SLUG-or-ID", help="Only this organization's members (slug or id).")
        listing.add_argument("--user", metavar="USERNAME", help="Only this user's memberships.")
        listing.add_argument("--json", action="store_true",
                             help="Print {\"memberships\": [...]} as one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        key = (options["entity"], options["action"])
        action = getattr(self, f"do_{key[0]}_{key[1]}")
        try:
            action(options)
        except JobValidationError as exc:
            raise CommandError(presenters.option_error(exc, _OPTION_FOR_FIELD.get(key, {}))) from None
        except ConveyorError as exc:
            raise CommandError(str(exc)) from None

    # --- organizations ------------------------------------------------------------------------

    def do_org_create(self, options: dict[str, Any]) -> None:
        quotas = {field: options[field] for field in tenancy_services.QUOTA_FIELDS}
        done = tenancy_services.organization_create(slug=options["slug"], name=options["name"], **quotas)
        org = done.organization
        if options["json"]:
            self.write_json({**organization_to_dict(org), "created": done.created})
        elif done.created:
            self.stdout.write(self.style.SUCCESS(f"Created organization {org.slug} ({org.name}), id {org.pk}."))
        else:
            self.stdout.write(f"Organization {org.slug} ({org.name}) exists already as asked; nothing changed.")

    def do_org_list(self, options: dict[str, Any]) -> None:
        orgs = list(tenancy_selectors.organization_list())
        if options["json"]:
            self.write_json({"organizations": [organization_to_dict(org) for org in orgs]})
            return
        if not orgs:
            self.stdout.write("No organizations.")
            return
        rows = [(org.slug, org.name, org.pk, org.member_count, org.project_count, org.created_at)  # type: ignore[attr-defined]
                for org in orgs]
        self.stdout.write(presenters.format_table(("SLUG", "NAME", "ID", "MEMBERS", "PROJECTS", "CREATED (UTC)"),
                                                  rows))
        self.stdout.write(f"{len(orgs)} organization(s).")

    # --- projects -----------------------------------------------------------------------------

    def do_project_create(self, options: dict[str, Any]) -> None:
        org = self.organization(options["org"])
        done = tenancy_services.project_create(organization=org, name=options["name"])
        project = done.project
        if options["json"]:
            self.write_json({**project_to_dict(project), "created": done.created})
        elif done.created:
            self.stdout.write(self.style.SUCCESS(f"Created project {project.pk} ({project.name}) in {org.slug}."))
        else:
            self.stdout.write(f"Project {project.pk} ({project.name}) exists already in {org.slug}; nothing changed.")

    def do_project_list(self, options: dict[str, Any]) -> None:
        org = self.organization(options["org"]) if options["org"] is not None else None
        projects = list(tenancy_selectors.project_list(organization=org))
        if options["json"]:
            self.write_json({"projects": [project_to_dict(project) for project in projects]})
            return
        if not projects:
            self.stdout.write("No projects." if org is None else f"No projects in {org.slug}.")
            return
        rows = [(p.pk, p.name, p.organization.slug if p.organization else None, p.created_at) for p in projects]
        self.stdout.write(presenters.format_table(("ID", "NAME", "ORGANIZATION", "CREATED (UTC)"), rows))
        self.stdout.write(f"{len(projects)} project(s).")

    # --- members ------------------------------------------------------------------------------

    def do_member_add(self, options: dict[str, Any]) -> None:
        org = self.organization(options["org"])
        user = self.user(options["username"], "USERNAME")
        done = tenancy_services.membership_add(organization=org, user=user, role=options["role"])
        name, role = user.get_username(), done.membership.role
        if options["json"]:
            self.write_json({**membership_to_dict(done.membership), "created": done.created,
                             "previousRole": done.previous_role})
        elif done.created:
            self.stdout.write(self.style.SUCCESS(f"Added {name} to {org.slug} as {role}."))
        elif done.changed:
            self.stdout.write(self.style.SUCCESS(f"Changed {name}'s role in {org.slug} from {done.previous_role} "
                                                 f"to {role}."))
        else:
            self.stdout.write(f"{name} is a member of {org.slug} as {role} already; nothing changed.")

    def do_member_remove(self, options: dict[str, Any]) -> None:
        org = self.organization(options["org"])
        user = self.user(options["username"], "USERNAME")
        removed = tenancy_services.membership_remove(organization=org, user=user)
        if options["json"]:
            self.write_json({**membership_to_dict(removed), "removed": True})
            return
        self.stdout.write(self.style.SUCCESS(f"Removed {user.get_username()} ({removed.role}) from {org.slug}."))

    def do_member_list(self, options: dict[str, Any]) -> None:
        org = self.organization(options["org"]) if options["org"] is not None else None
        user = self.user(options["user"], "--user") if options["user"] is not None else None
        memberships = list(tenancy_selectors.membership_list(organization=org, user=user))
        if options["json"]:
            self.write_json({"memberships": [membership_to_dict(m) for m in memberships]})
            return
        if not memberships:
            self.stdout.write("No members match.")
            return
        rows = [(m.organization.slug, m.user.get_username(), m.role, m.created_at) for m in memberships]
        self.stdout.write(presenters.format_table(("ORGANIZATION", "USERNAME", "ROLE", "SINCE (UTC)"), rows))
        self.stdout.write(f"{len(memberships)} membership(s).")

    # --- references and output ----------------------------------------------------------------

    def organization(self, ref: str) -> Organization:
        org = selectors.organization_find(ref=ref)
        if org is None:
            raise CommandError(f"--org: no organization with slug or id {ref!r}")
        return org

    def user(self, username: str, option: str) -> Any:
        user = selectors.user_find(username=username)
        if user is None:
            raise CommandError(f"{option}: no user {username!r}")
        return user

    def write_json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data))


def organization_to_dict(org: Organization) -> dict[str, Any]:
    """An organization for `--json`; the counts only where the list selector annotated them."""
    data: dict[str, Any] = {
        "id": org.pk,
        "slug": org.slug,
        "name": org.name,
        "jobsPerMinute": org.jobs_per_minute,
        "jobsPerHour": org.jobs_per_hour,
        "jobsPerDay": org.jobs_per_day,
        "maxPayloadBytes": org.max_payload_bytes,
        "createdAt": presenters.iso(org.created_at),
    }
    for attribute, key in (("member_count", "members"), ("project_count", "projects")):
        if hasattr(org, attribute):
            data[key] = getattr(org, attribute)
    return data


def project_to_dict(project: Project) -> dict[str, Any]:
    org = project.organization
    return {
        "id": project.pk,
        "name": project.name,
        "orgId": project.organization_id,
        "orgSlug": org.slug if org is not None else None,
        "createdAt": presenters.iso(project.created_at),
    }


def membership_to_dict(membership: Membership) -> dict[str, Any]:
    return {
        "orgId": membership.organization_id,
        "orgSlug": membership.organization.slug,
        "userId": membership.user_id,
        "username": membership.user.get_username(),
        "role": membership.role,
        "createdAt": presenters.iso(membership.created_at),
    }
