"""`manage.py prune_events`: delete events past NOTIFY_HISTORY_DAYS (run it daily, e.g. from cron)."""

from django.core.management.base import BaseCommand

from notifications.retention import prune_expired_events


class Command(BaseCommand):
    help = "Delete events older than NOTIFY_HISTORY_DAYS; clients resuming from before then get `reset`."

    def handle(self, *args, **options) -> None:
        deleted = prune_expired_events()
        self.stdout.write(f"Deleted {deleted} events older than the history window.")
