"""The notifications API's routes, under /api/ beside the jobs API (no trailing slash, as there).
Path ids are matched as text and checked by the views: a malformed one answers a JSON 400 (or
404 for a delivery's UUID) rather than an HTML 404."""
from __future__ import annotations

from django.urls import path

from notifications.api import views

urlpatterns = [
    path("notifications/channels", views.ChannelCollectionView.as_view(), name="api-notification-channels"),
    path("notifications/channels/<str:id>", views.ChannelDetailView.as_view(), name="api-notification-channel"),
    path("notifications/channels/<str:id>/rotate-secret", views.ChannelRotateSecretView.as_view(),
         name="api-notification-channel-rotate"),
    path("notifications/rules", views.RuleCollectionView.as_view(), name="api-notification-rules"),
    path("notifications/rules/<str:id>", views.RuleDetailView.as_view(), name="api-notification-rule"),
    path("notifications/deliveries", views.DeliveryCollectionView.as_view(), name="api-notification-deliveries"),
    path("notifications/deliveries/<str:id>", views.DeliveryDetailView.as_view(), name="api-notification-delivery"),
    path("notifications/deliveries/<str:id>/resend", views.DeliveryResendView.as_view(),
         name="api-notification-delivery-resend"),
]
