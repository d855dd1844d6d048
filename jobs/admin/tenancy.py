"""The small tenancy models: organizations with their members, memberships, projects."""
from __future__ import annotations

from django.contrib import admin

from jobs.models import Membership, Organization, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("user", "organization")
    search_fields = ("user__username", "organization__name", "organization__slug")
    raw_id_fields = ("user", "organization")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "created_at")
    list_select_related = ("organization",)
    search_fields = ("name", "organization__name")
    raw_id_fields = ("organization",)
