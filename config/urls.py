"""The project's routes: the admin, the apps' APIs under /api/, and the API's schema and docs."""
from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/console/", include("console.urls")),
    path("admin/", admin.site.urls),
    path("", include("observability.urls")),
    path("api/", include("jobs.api.urls")),
    path("api/", include("scheduler.api.urls")),
    path("api/", include("notifications.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
