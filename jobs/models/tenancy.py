"""The tenancy a job is scoped to: organizations, their members with a role, and projects."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Job quotas for each member creating jobs in this organization. NULL: the JOBS_QUOTA_*
    # setting applies; 0: no limit of that kind.
    jobs_per_minute = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Jobs a member may create per minute here (empty: JOBS_QUOTA_PER_MINUTE; 0: no limit).",
    )
    jobs_per_hour = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Jobs a member may create per hour here (empty: JOBS_QUOTA_PER_HOUR; 0: no limit).",
    )
    jobs_per_day = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Jobs a member may create per day here (empty: JOBS_QUOTA_PER_DAY; 0: no limit).",
    )
    max_payload_bytes = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Largest job input in bytes here (empty: JOBS_MAX_PAYLOAD_BYTES; it can only lower that limit).",
    )

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        ADMIN = "admin", "Admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_org")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Project(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="projects", null=True, blank=True
    )
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name
