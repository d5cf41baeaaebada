from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from notifications import checks, signals  # noqa: F401  (registers the checks, connects the receivers)
        from notifications.api.ingress import store_messages
        from notifications.ops.accesslog import redact_daphne_access_log
        from notifications.realtime import ingress
        from notifications.store import lookups

        lookups.register()  # `__any_of` before any query uses it
        redact_daphne_access_log()
        ingress.set_store(store_messages)  # the runtime consumes; the API's checks and serializer decide
