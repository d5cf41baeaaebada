"""`manage.py prune_events`: retention, safe on a schedule and while serving (e.g. hourly from cron or a timer).

Deletes events past NOTIFY_HISTORY_DAYS (already fanned out), expired
WebSocket tickets, Idempotency-Key answers past NOTIFY_IDEMPOTENCY_DAYS and
presence rows of instances that died without a clean stop.
"""

from django.core.management.base import BaseCommand

from notifications.store.retention import prune_all


class Command(BaseCommand):
    help = "Delete expired events, tickets, idempotency answers and stale presence rows."

    def handle(self, *args, **options) -> None:
        deleted = prune_all()
        self.stdout.write(f"Deleted {deleted['events']} events older than the history window.")
        self.stdout.write(", ".join(f"{count} {what}" for what, count in deleted.items() if what != "events") + ".")
