"""The admin's forms for channels and rules: the fields an operator edits, checked by the same
rules as the API (`notifications.services.validation`), each error shown at its field."""
from __future__ import annotations

from typing import Any

from django import forms

from notifications import services
from notifications.errors import NotificationValidationError
from notifications.kinds import ChannelKind
from notifications.models import Channel, Rule
from notifications.services import validation as valid

# the services' (and the API's) names of fields -> the forms' names
_FORM_FIELDS = {"emailAddresses": "email_addresses", "jobType": "job_type", "projectId": "project",
                "windowSeconds": "window_seconds", "minJobs": "min_jobs", "throttleSeconds": "throttle_seconds",
                "digestSize": "digest_size", "channelIds": "channels", "organizationId": "organization"}


def _attach(form: forms.ModelForm, exc: NotificationValidationError) -> None:
    name = _FORM_FIELDS.get(exc.field, exc.field)
    form.add_error(name if name in form.fields else None, exc.detail)


class ChannelForm(forms.ModelForm):
    email_addresses = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="E-mail channels: the recipients, one per line or separated by commas.")

    class Meta:
        model = Channel
        fields = ("name", "kind", "organization", "email_addresses", "url", "enabled")
        help_texts = {"url": "Slack-compatible and webhook channels: the http(s) URL to POST to.",
                      "organization": "Empty: a platform-wide channel, used by platform-wide rules only."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["email_addresses"] = "\n".join(self.instance.email_addresses or [])
            # a channel keeps its kind and its organization: another is a new channel
            for name in ("kind", "organization"):
                self.fields[name].disabled = True

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if self.errors:
            return data
        try:
            valid.name(data.get("name"))
            kind = valid.choice("kind", data.get("kind"), ChannelKind.values)
            addresses, url = valid.channel_target(kind, addresses=data.get("email_addresses") or None,
                                                  target=data.get("url") or None)
        except NotificationValidationError as exc:
            _attach(self, exc)
            return data
        data["email_addresses"], data["url"] = addresses, url
        return data


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ("name", "event", "organization", "project", "job_type", "queue", "threshold", "window_seconds",
                  "min_jobs", "channels", "throttle_seconds", "digest_size", "enabled")
        help_texts = {"organization": "Empty: a platform-wide rule, which sends to platform-wide channels.",
                      "channels": "Channels of the rule's organization (or platform-wide ones for a platform-wide "
                                  "rule)."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in ("event", "organization"):
                self.fields[name].disabled = True

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if self.errors:
            return data
        org = data.get("organization")
        try:
            fields = services.rule_fields(data.get("event") or "", org.pk if org else None, {
                name: data.get(name) for name in ("name", "project", "job_type", "queue", "threshold",
                                                  "window_seconds", "min_jobs", "throttle_seconds", "digest_size",
                                                  "enabled")})
            valid.channels(data.get("channels") or [], org.pk if org else None)
        except NotificationValidationError as exc:
            _attach(self, exc)
            return data
        data.update(fields)
        return data
