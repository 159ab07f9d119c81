"""URLconf of the control plane: the routing API under /api/, its OpenAPI schema, and the admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from strangler.control.routing.api_auth import CanRead, TokenAuthentication

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("strangler.control.routing.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[TokenAuthentication],
                                                   permission_classes=[CanRead]), name="schema"),
]
