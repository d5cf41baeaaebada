"""Secrets out of daphne's access log.

daphne writes each request's path with its query string to its access log
(on by default, `--verbosity 1`), so `?ticket=` and `?token=` would reach
it. This wraps `AccessLogGenerator.write_entry` to pass the request line
through the same redaction as every log handler (`ops/logfmt.py`).
Deployments run daphne with `--verbosity 0` anyway (nginx logs without
query strings); this covers `scripts/run` and anyone who turns it on. It is
installed when the apps are ready, before daphne serves a first request
(not with the serving patches: those start with the hub, after it).
"""

from notifications.ops.logfmt import redact


def redact_daphne_access_log() -> None:
    """Make daphne's access log mask tickets, tokens and other secrets in request lines (idempotent)."""
    try:
        from daphne.access import AccessLogGenerator
    except ImportError:  # not served by daphne: nothing to patch
        return
    if getattr(AccessLogGenerator.write_entry, "redacted", False):
        return
    write_entry = AccessLogGenerator.write_entry

    def redacted_write_entry(generator, host, date, request, *args, **kwargs):
        return write_entry(generator, host, date, redact(request), *args, **kwargs)

    redacted_write_entry.redacted = True
    AccessLogGenerator.write_entry = redacted_write_entry
