"""Admin pages for channels, rules and deliveries.

1. Channels and rules are edited in forms checked like the API's bodies, and saved through
   `notifications.services`. A webhook channel's secret is shown once, in the message after
   it was created or rotated ("Rotate the signing secret" action), never on the page.
2. Deliveries are read-only, with their attempts inline (number, time, outcome, response code,
   latency, error); "Resend" (a button on the page, and a list action) sends one again through
   `delivery_resend`, reporting what it refused.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from jobs.errors import ConveyorError
from notifications import presenters, services
from notifications.admin.forms import ChannelForm, RuleForm
from notifications.kinds import ChannelKind
from notifications.models import Channel, Condition, Delivery, DeliveryAttempt, Rule
from notifications.signing import secret_hint

MAX_LISTED = 10


def _report(model_admin: admin.ModelAdmin, request: HttpRequest, done: list[str], failures: list[str],
            verb: str) -> None:
    if done:
        model_admin.message_user(request, f"Done: {'; '.join(done[:MAX_LISTED])}.", messages.SUCCESS)
    if failures:
        more = f"; and {len(failures) - MAX_LISTED} more" if len(failures) > MAX_LISTED else ""
        model_admin.message_user(request, f"Could not {verb} {len(failures)}: {'; '.join(failures[:MAX_LISTED])}"
                                          f"{more}", messages.ERROR)


def _show_secret(model_admin: admin.ModelAdmin, request: HttpRequest, channel: Channel, secret: str) -> None:
    model_admin.message_user(
        request, f"Signing secret of {channel} (shown this once; give it to the receiver now): {secret}",
        messages.WARNING)


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ("name", "kind", "organization", "target", "enabled", "updated_at")
    list_filter = ("kind", "enabled")
    list_select_related = ("organization",)
    search_fields = ("name", "url", "organization__slug")
    readonly_fields = ("signing_secret", "previous_secret_until", "created_by", "created_at", "updated_at")
    actions = ("rotate_secret",)

    @admin.display(description="sends to")
    def target(self, channel: Channel) -> str:
        if channel.kind == ChannelKind.EMAIL:
            return ", ".join(channel.email_addresses or [])
        return presenters.url_shown(channel)

    @admin.display(description="signing secret")
    def signing_secret(self, channel: Channel) -> str:
        if channel.kind != ChannelKind.WEBHOOK:
            return "-"
        return f"{secret_hint(channel.secret)} (shown in full only when made: rotate it for a new one)"

    def save_model(self, request: HttpRequest, obj: Channel, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            services.channel_update(channel=obj, name=data["name"], email_addresses=data["email_addresses"] or None,
                                    url=data["url"] or None, enabled=data["enabled"])
            return
        made = services.channel_create(name=data["name"], kind=data["kind"], organization=data["organization"],
                                       email_addresses=data["email_addresses"] or None, url=data["url"] or None,
                                       enabled=data["enabled"], created_by=request.user)
        # the admin's own messages and history need the saved row
        obj.pk = made.channel.pk
        obj.refresh_from_db()
        if made.secret:
            _show_secret(self, request, made.channel, made.secret)

    def delete_model(self, request: HttpRequest, obj: Channel) -> None:
        services.channel_delete(channel=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        for channel in queryset:
            services.channel_delete(channel=channel)

    @admin.action(description="Rotate the signing secret of the selected webhook channels", permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        done: list[str] = []
        failures: list[str] = []
        for channel in queryset:
            try:
                made = services.channel_rotate_secret(channel=channel)
            except ConveyorError as exc:
                failures.append(str(exc))
                continue
            _show_secret(self, request, made.channel, made.secret)
            done.append(f"rotated the secret of {channel.name!r}")
        _report(self, request, done, failures, "rotate")


class ConditionInline(admin.TabularInline):
    """What the rule's condition measured at the last evaluation, read-only."""

    model = Condition
    fields = ("key", "active", "value", "since", "checked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ("name", "event", "organization", "project", "job_type", "queue", "threshold", "throttle_seconds",
                    "enabled", "last_message_at")
    list_filter = ("event", "enabled")
    list_select_related = ("organization", "project")
    search_fields = ("name", "job_type", "queue", "organization__slug")
    readonly_fields = ("last_message_at", "waiting_events", "created_by", "created_at", "updated_at")
    filter_horizontal = ("channels",)
    inlines = (ConditionInline,)

    @admin.display(description="events waiting for the window")
    def waiting_events(self, rule: Rule) -> int:
        return rule.events.filter(sent_at__isnull=True).count() if rule.pk else 0

    def save_model(self, request: HttpRequest, obj: Rule, form: Any, change: bool) -> None:
        data = form.cleaned_data
        fields = {name: data[name] for name in ("name", "project", "job_type", "queue", "threshold", "window_seconds",
                                                "min_jobs", "throttle_seconds", "digest_size", "enabled")}
        if change:
            services.rule_update(rule=obj, channels=list(data["channels"]), **fields)
            return
        rule = services.rule_create(event=data["event"], organization=data["organization"],
                                    channels=list(data["channels"]), created_by=request.user, **fields)
        obj.pk = rule.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Rule) -> None:
        services.rule_delete(rule=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        for rule in queryset:
            services.rule_delete(rule=rule)


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "started_at", "outcome", "status_code", "latency_ms", "error")
    readonly_fields = fields
    ordering = ("number",)
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "short_id", "channel", "rule", "event_type", "event_count", "status",
                    "attempt_count", "last_status_code")
    list_filter = ("status", "channel__kind", "event_type")
    list_select_related = ("channel", "rule")
    search_fields = ("id", "subject", "channel__name", "rule__name")
    fields = ("controls", "message_id", "status", "channel", "rule", "event_type", "event_count", "subject", "text",
              "payload", "job_link", "attempt_count", "last_status_code", "last_error", "created_at", "sent_at")
    readonly_fields = fields
    inlines = (DeliveryAttemptInline,)
    actions = ("resend_selected",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a delivery is a record; resending is the only thing done to it

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.change_delivery")

    @admin.display(description="id")
    def short_id(self, delivery: Delivery) -> str:
        return delivery.message_id[:12]

    @admin.display(description="job")
    def job_link(self, delivery: Delivery) -> str:
        if delivery.job_id is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:jobs_job_change", args=[delivery.job_id]),
                           str(delivery.job_id))

    @admin.display(description="actions")
    def controls(self, delivery: Delivery) -> str:
        # a button inside the change page's own form (with its CSRF token), posting to the
        # view below: no nested form, no template
        return format_html('<button type="submit" class="button" formaction="{}" formmethod="post">Resend</button>',
                           reverse("admin:notifications_delivery_resend", args=[delivery.pk]))

    @admin.action(description="Resend the selected deliveries", permissions=["operate"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        done: list[str] = []
        failures: list[str] = []
        for delivery in queryset:
            try:
                services.delivery_resend(delivery=delivery)
            except ConveyorError as exc:
                failures.append(str(exc))
                continue
            done.append(f"resent {delivery.message_id} to {delivery.channel}")
            self.log_change(request, delivery, "resent via the admin")
        _report(self, request, done, failures, "resend")

    def get_urls(self) -> list[Any]:
        return [path("<uuid:object_id>/resend/", self.admin_site.admin_view(self.resend_view()),
                     name="notifications_delivery_resend")] + super().get_urls()

    def resend_view(self) -> Callable[..., HttpResponse]:
        def view(request: HttpRequest, object_id: Any) -> HttpResponse:
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            if not self.has_operate_permission(request):
                raise PermissionDenied
            deliveries = Delivery.objects.filter(pk=object_id)
            if not deliveries.exists():
                self.message_user(request, f"delivery {object_id} does not exist", messages.ERROR)
                return HttpResponseRedirect(reverse("admin:notifications_delivery_changelist"))
            self.resend_selected(request, deliveries)
            return HttpResponseRedirect(reverse("admin:notifications_delivery_change", args=[object_id]))

        return view
