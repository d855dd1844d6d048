"""Pauses in the admin: the list of what is paused (by whom, why, until when), a form to pause
a queue or a job type, and "Resume" for the selected ones. Both write through
`jobs.services` (pause_set, pause_lift), which check the permission `jobs.pause_work` and
record the audit entry."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.utils import timezone

from audit.actors import Actor, Source
from handlers.registry import all_queues, registered_types
from jobs import services
from jobs.errors import ConveyorError
from jobs.models import Pause, PauseKind


def _names() -> list[tuple[str, list[tuple[str, str]]]]:
    return [("Queues", [(f"queue:{name}", name) for name in all_queues()]),
            ("Job types", [(f"type:{name}", name) for name in registered_types(tracked=True)])]


class PauseForm(forms.ModelForm):
    target = forms.ChoiceField(label="Pause", choices=_names, help_text="A queue, or a job type.")

    class Meta:
        model = Pause
        fields = ("reason", "until")
        help_texts = {"until": "Leave empty to pause until someone resumes it.",
                      "reason": "Shown on every job it holds back, and kept in the audit log."}

    def clean_until(self) -> Any:
        until = self.cleaned_data.get("until")
        if until is not None and until <= timezone.now():
            raise forms.ValidationError("The end of a pause must be in the future.")
        return until


@admin.register(Pause)
class PauseAdmin(admin.ModelAdmin):
    form = PauseForm
    list_display = ("kind", "name", "paused_by_name", "paused_at", "until", "reason")
    fields = ("target", "reason", "until")
    actions = ["resume_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.pause_work")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_resume_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.pause_work")

    def save_model(self, request: HttpRequest, obj: Pause, form: Any, change: bool) -> None:
        kind, _, name = form.cleaned_data["target"].partition(":")
        by = Actor.from_request(request, Source.ADMIN, reason=form.cleaned_data.get("reason") or "")
        saved = services.pause_set(kind=kind, name=name, until=form.cleaned_data.get("until"), by=by)
        obj.pk = saved.pk  # the admin's "added" message and log entry name the saved row

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        try:
            return super().add_view(request, form_url, extra_context)
        except ConveyorError as exc:  # refused by the service: nothing was saved
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    @admin.action(description="Resume selected (their waiting jobs are published)", permissions=["resume"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[Pause]) -> None:
        by = Actor.from_request(request, Source.ADMIN)
        for pause in list(queryset):
            try:
                published = services.pause_lift(kind=pause.kind, name=pause.name, by=by)
            except ConveyorError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"Resumed {PauseKind(pause.kind).label} {pause.name}; {published} "
                                           "waiting job(s) published.", messages.SUCCESS)
