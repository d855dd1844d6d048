"""The notifications console: channels and rules (edited through the services), deliveries
with their attempts and a resend button.

    forms.py   the channel and rule forms, checked as the API checks its bodies
    pages.py   the admin pages and their actions

Importing this package registers the models with the admin site.
"""
from __future__ import annotations

from notifications.admin.pages import ChannelAdmin, DeliveryAdmin, RuleAdmin

__all__ = ["ChannelAdmin", "DeliveryAdmin", "RuleAdmin"]
