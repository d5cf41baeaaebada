from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from notifications import checks, signals  # noqa: F401  (registers the checks, connects the receivers)
        from notifications.ops.accesslog import redact_daphne_access_log

        redact_daphne_access_log()
