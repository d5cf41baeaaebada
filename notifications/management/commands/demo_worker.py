"""`manage.py demo_worker --url http://127.0.0.1:8000 --token-file var/demo-service-token [--once]`.

A stand-in backend service for demos and tests: it lists queued requests with
its service token and reports their progress through POST /api/v1/events/,
over HTTP like any external service. SIGTERM or SIGINT stops it cleanly
between steps; `--once` exits when nothing is left to do.
"""

import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from notifications.demo.service_api import ServiceApi
from notifications.demo.worker import DemoWorker

ONCE_MAX_FAILURES = 5


class Command(BaseCommand):
    help = "Act as a backend service: take queued requests and report their progress over the REST API."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The server's base URL.")
        parser.add_argument("--token-file", default="var/demo-service-token", help="File holding the service token.")
        parser.add_argument("--step-secs", type=float, default=1.0, help="Pause between steps.")
        parser.add_argument("--failure-rate", type=float, default=0.2, help="Share of requests that fail (0-1).")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the random failures.")
        parser.add_argument("--once", action="store_true", help="Finish what is queued now, then exit.")

    def handle(self, *args, url: str, token_file: str, once: bool, **options) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        worker = DemoWorker(
            ServiceApi(url, read_token(Path(token_file))),
            seed=options["seed"],
            failure_rate=options["failure_rate"],
            step_secs=options["step_secs"],
            stop=stop,
            say=lambda line: self.stdout.write(f"demo_worker: {line}"),
        )
        self.stdout.write(f"demo_worker: working for {url}" + (" (once)" if once else "; stop with Ctrl-C"))
        if not worker.run(once=once, max_failures=ONCE_MAX_FAILURES if once else None):
            raise CommandError("the server stayed unavailable")
        self.stdout.write("demo_worker: stopped")


def read_token(path: Path) -> str:
    """Return the service token kept in `path`, or say how to make one."""
    try:
        token = path.read_text().strip()
    except OSError as error:
        raise CommandError(f"cannot read the token file {path} ({error}); scripts/run's seed_demo writes it.") from None
    if not token:
        raise CommandError(f"the token file {path} is empty")
    return token
