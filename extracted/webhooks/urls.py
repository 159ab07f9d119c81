"""URLconf of the webhook delivery service."""

from django.urls import path

from extracted.webhooks import health, views

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", health.metrics),
    path("api/v1/webhook-endpoints/", views.EndpointList.as_view()),
    path("api/v1/webhook-endpoints/<int:pk>/", views.EndpointDetail.as_view()),
    path("api/v1/webhook-deliveries/", views.DeliveryList.as_view()),
    path("api/v1/webhook-deliveries/<int:pk>/", views.DeliveryDetail.as_view()),
    path("api/v1/webhook-deliveries/<int:pk>/redeliver/", views.Redeliver.as_view()),
]
