from django.urls import path

from notifications.web import views

app_name = "pages"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("requests/<uuid:pk>/", views.request_detail, name="request-detail"),
    path("settings/", views.preferences, name="settings"),
]
