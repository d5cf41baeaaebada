"""The REST API's routes, mounted at /api/v1/ by project/urls.py."""

from django.urls import path

from notifications.api import views

app_name = "api"

# Request ids are matched as strings so that a malformed id answers a JSON 404 from the view.
urlpatterns = [
    path("requests/", views.RequestListCreateView.as_view(), name="request-list"),
    path("requests/<str:pk>/", views.RequestDetailView.as_view(), name="request-detail"),
    path("requests/<str:pk>/events/", views.RequestEventsView.as_view(), name="request-events"),
    path("requests/<str:pk>/delivery/", views.RequestDeliveryView.as_view(), name="request-delivery"),
    path("events/", views.EventPublishView.as_view(), name="event-publish"),
    path("events/batch/", views.EventBatchPublishView.as_view(), name="event-publish-batch"),
    path("broadcasts/", views.BroadcastView.as_view(), name="broadcast"),
    path("notifications/", views.NotificationListView.as_view(), name="notification-list"),
    path("notifications/read/", views.MarkReadView.as_view(), name="notification-read"),
    path("ws-tickets/", views.TicketView.as_view(), name="ws-ticket"),
    path("presence/", views.PresenceView.as_view(), name="presence"),
]
