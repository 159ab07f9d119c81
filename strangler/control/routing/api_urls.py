"""Routes of the control plane API (mounted under /api/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from strangler.control.routing.api_views import AuditViewSet, CapabilityViewSet, InstancesView

router = SimpleRouter()
router.register("capabilities", CapabilityViewSet, basename="capability")
router.register("audit", AuditViewSet, basename="audit")

urlpatterns = [
    path("instances/", InstancesView.as_view(), name="instances"),
    path("", include(router.urls)),
]
