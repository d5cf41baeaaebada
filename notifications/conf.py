"""The service's settings with their defaults, in one place, read when used.

`SETTINGS` is the one table of every NOTIFY_* knob: `project/settings.py` reads
each from the environment (or `.env`) with it, the accessors below read
`django.conf.settings` at call time (so tests may override them), and the
README's Configuration table names the same variables (tests/test_conf.py).
"""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Setting:
    """One knob: how its environment variable is parsed (str, int, float, list), its default, what it does."""

    kind: type
    default: object
    meaning: str


SETTINGS: dict[str, Setting] = {
    "NOTIFY_AMQP_URL": Setting(
        str, "", "RabbitMQ URL of the channel layer, or a cluster's nodes comma-separated; empty: in-process layer"
    ),
    "NOTIFY_AMQP_LOCAL_CAPACITY": Setting(int, 2000, "channels-rabbitmq: messages buffered per local channel"),
    "NOTIFY_AMQP_REMOTE_CAPACITY": Setting(int, 100000, "channels-rabbitmq: messages the broker queue holds"),
    "NOTIFY_AMQP_LOCAL_EXPIRY": Setting(float, 15.0, "channels-rabbitmq: seconds a buffered message lives"),
    "NOTIFY_AMQP_LOG_LEVEL": Setting(
        str, "CRITICAL", "log level of channels_rabbitmq (a traceback a second while the broker is down)"
    ),
    "NOTIFY_NAMESPACE": Setting(str, "notify", "prefix of the layer's group names; differs per deployment on a broker"),
    "NOTIFY_INSTANCE_NAME": Setting(str, "", "this instance's name in presence; empty: the host name"),
    "NOTIFY_ALLOWED_ORIGINS": Setting(list, [], "origins allowed to open sockets; empty: the site's own origin"),
    "NOTIFY_HISTORY_DAYS": Setting(int, 7, "how long events are kept for resume"),
    "NOTIFY_IDEMPOTENCY_DAYS": Setting(int, 2, "how long Idempotency-Key answers are kept"),
    "NOTIFY_TICKET_TTL_SECS": Setting(int, 60, "how long a WebSocket ticket stays valid"),
    "NOTIFY_HEARTBEAT_SECS": Setting(int, 25, "the ping interval `welcome` asks clients for"),
    "NOTIFY_STOMP_HEART_BEAT_MS": Setting(
        int, None, "the STOMP heart-beat period the server offers and asks for, in ms; unset: 25000 (PROTOCOL 4.1)"
    ),
    "NOTIFY_RESUME_GRACE_SECS": Setting(float, 1.0, "how long live events wait after `welcome` for a first `resume`"),
    "NOTIFY_MAX_FRAME_BYTES": Setting(int, 64 * 1024, "the largest client frame accepted (larger closes with 1009)"),
    "NOTIFY_FRAMES_PER_SECOND": Setting(float, 20.0, "client frames per second a socket may send, sustained"),
    "NOTIFY_FRAME_BURST": Setting(int, 40, "client frames a socket may send at once above that rate"),
    "NOTIFY_REFUSALS_BEFORE_CLOSE": Setting(int, 20, "refused frames before a socket is closed with 4429"),
    "NOTIFY_MAX_CONNECTS_PER_SEC": Setting(
        float, 0.0, "new sockets and event streams a second past which connects get 1013 (503); 0: no limit"
    ),
    "NOTIFY_CONNECT_BURST": Setting(int, 200, "connects taken at once above that rate"),
    "NOTIFY_PRESENCE_TIMEOUT_SECS": Setting(float, 60.0, "a connection is offline this long after its last heartbeat"),
    "NOTIFY_SHUTDOWN_GRACE_SECS": Setting(float, 5.0, "on SIGTERM, how long sockets get to close with 1001"),
    "NOTIFY_METRICS_TOKEN": Setting(str, "", "bearer token /metrics requires; empty: internal addresses only"),
    "NOTIFY_METRICS_PORT": Setting(int, None, "the only server port /metrics answers on; unset: every port"),
    "NOTIFY_MAX_SOCKET_BUFFER_BYTES": Setting(int, 1024 * 1024, "unsent bytes held for one socket before dropping it"),
    "NOTIFY_GC_THRESHOLD": Setting(int, 50_000, "allocations between young collections once serving; 0: Python's"),
    "NOTIFY_MAX_EVENT_DATA_BYTES": Setting(int, 16 * 1024, "the largest `data` of a status event, as UTF-8 JSON"),
    "NOTIFY_OUTBOX_MAX_ATTEMPTS": Setting(int, 5, "failed sends of one event before the outbox marks it failed"),
    "NOTIFY_CONNECTION_EVENTS_EXCHANGE": Setting(
        str, "notify.connections", "durable topic exchange user.connected / user.disconnected go to"
    ),
    "NOTIFY_INGRESS_EXCHANGE": Setting(
        str, "notify.ingress", "durable topic exchange services publish status events to; names its queue"
    ),
    "NOTIFY_INGRESS_CONSUMER": Setting(str, "1", "`0`: this instance runs no ingress consumer (on NOTIFY_AMQP_URL)"),
    "NOTIFY_INGRESS_PREFETCH": Setting(int, 1000, "unacked ingress messages the broker sends this instance"),
    "NOTIFY_INGRESS_BATCH": Setting(int, 500, "most ingress messages stored in one transaction"),
    "NOTIFY_INGRESS_MAX_BODY_BYTES": Setting(int, 256 * 1024, "the largest ingress body accepted (larger: 400)"),
    "NOTIFY_WEBHOOK_TIMEOUT_SECS": Setting(float, 10.0, "a webhook POST without an answer this long is a failure"),
    "NOTIFY_WEBHOOK_FIRST_RETRY_SECS": Setting(float, 5.0, "delay before a failed webhook's first retry; doubling"),
    "NOTIFY_WEBHOOK_RETRY_SECS": Setting(float, 86400.0, "how long after an event its webhook deliveries are retried"),
    "NOTIFY_WEBHOOK_CONCURRENCY": Setting(int, 4, "webhook POSTs in flight at once per endpoint and instance"),
    "NOTIFY_JWT_PUBLIC_KEY_FILE": Setting(str, "", "PEM public key of socket JWTs: RSA (RS256) or EC P-256 (ES256)"),
    "NOTIFY_JWT_SECRET": Setting(str, "", "HS256 secret socket JWTs are verified with (not with the key file)"),
    "NOTIFY_JWT_ISSUER": Setting(str, "", "the `iss` socket JWTs must carry; empty: not checked"),
    "NOTIFY_JWT_AUDIENCE": Setting(str, "", "the `aud` socket JWTs must carry; empty: not checked"),
    "NOTIFY_JWT_LEEWAY_SECS": Setting(int, 10, "clock skew allowed when checking a JWT's `exp`, `nbf` and `iat`"),
    "NOTIFY_UNSEEN_AFTER_SECS": Setting(
        float,
        900.0,
        "a finished request unread this long is e-mailed to its owner and sent as `request.unseen` to its "
        "publishing services' webhooks (0: never)",
    ),
    "NOTIFY_DELIVERY_LEDGER": Setting(int, 1, "`0`: record no per-event delivery counts (the delivery ledger)"),
    "NOTIFY_PUBLIC_URL": Setting(str, "http://127.0.0.1:8000", "the site's address, for links in e-mails"),
    "NOTIFY_GATEWAY_UPSTREAMS": Setting(list, [], "comma-separated name=base URL services `request` frames may call"),
    "NOTIFY_GATEWAY_PRIVATE_KEY_FILE": Setting(
        str, "", "PEM private key (RSA: RS256, EC P-256: ES256) signing the JWT upstream calls carry"
    ),
    "NOTIFY_GATEWAY_TIMEOUT_SECS": Setting(float, 10.0, "an upstream call without a whole answer this long is 504"),
    "NOTIFY_DEMO_PASSWORD": Setting(str, "demo", "password `scripts/run` gives the demo user"),
    "NOTIFY_DEMO_ADMIN_PASSWORD": Setting(str, "", "when set, `scripts/run` creates a staff user `admin` with it"),
    "NOTIFY_DEMO_WORKER": Setting(str, "1", "`0`: `scripts/run` starts no demo worker beside the server"),
}

_UNSET = object()


def _get(name: str, default=_UNSET):
    """Return a setting as configured now, else its default from SETTINGS."""
    return getattr(settings, name, SETTINGS[name].default if default is _UNSET else default)


def amqp_url() -> str:
    return _get("NOTIFY_AMQP_URL")


def amqp_urls() -> list[str]:
    """Return the broker nodes NOTIFY_AMQP_URL lists (comma-separated), in order; empty: no broker."""
    return [url.strip() for url in amqp_url().split(",") if url.strip()]


def allowed_origins() -> list[str]:
    """Origins allowed to open sockets; empty means the site's own origin and CSRF_TRUSTED_ORIGINS."""
    return _get("NOTIFY_ALLOWED_ORIGINS")


def ticket_ttl_secs() -> int:
    return _get("NOTIFY_TICKET_TTL_SECS")


def heartbeat_secs() -> int:
    return _get("NOTIFY_HEARTBEAT_SECS")


def max_frame_bytes() -> int:
    return _get("NOTIFY_MAX_FRAME_BYTES")


def frames_per_second() -> float:
    return _get("NOTIFY_FRAMES_PER_SECOND")


def frame_burst() -> int:
    return _get("NOTIFY_FRAME_BURST")


def refusals_before_close() -> int:
    return _get("NOTIFY_REFUSALS_BEFORE_CLOSE")


def stomp_heart_beat_ms() -> int | None:
    """The period of the STOMP server's heart-beat wish (both ways), when set; else the protocol's default."""
    return _get("NOTIFY_STOMP_HEART_BEAT_MS")


def resume_grace_secs() -> float:
    """How long live events wait after `welcome` for a first `resume` (so they follow the replay)."""
    return _get("NOTIFY_RESUME_GRACE_SECS")


def history_days() -> int:
    return _get("NOTIFY_HISTORY_DAYS")


def presence_timeout_secs() -> float:
    """How long a connection counts as online after its instance's last heartbeat (a killed instance's rows expire)."""
    return _get("NOTIFY_PRESENCE_TIMEOUT_SECS")


def presence_heartbeat_secs() -> float:
    """How often an instance refreshes its connections' rows: often enough that a live one never looks stale."""
    return max(0.25, min(5.0, presence_timeout_secs() / 4))


def shutdown_grace_secs() -> float:
    """How long SIGTERM waits for sockets to close with 1001 before letting daphne stop anyway."""
    return _get("NOTIFY_SHUTDOWN_GRACE_SECS")


def metrics_token() -> str:
    """The bearer token /metrics requires; empty means loopback and private addresses only."""
    return _get("NOTIFY_METRICS_TOKEN")


def metrics_port() -> int | None:
    """When set, /metrics answers only on this server port (bind daphne to it on an internal interface)."""
    return _get("NOTIFY_METRICS_PORT")


def idempotency_days() -> int:
    """How long a publish's Idempotency-Key answer is kept for retries."""
    return _get("NOTIFY_IDEMPOTENCY_DAYS")


def max_socket_buffer_bytes() -> int:
    """How much unsent data daphne may hold for one socket before dropping it (a client that stopped reading)."""
    return _get("NOTIFY_MAX_SOCKET_BUFFER_BYTES")


def gc_threshold() -> int:
    """Allocations between young collections once serving (see gcpauses.py); 0 keeps Python's defaults."""
    return _get("NOTIFY_GC_THRESHOLD")


def outbox_max_attempts() -> int:
    """Failed sends after which the outbox gives up on an event and marks it failed."""
    return max(1, _get("NOTIFY_OUTBOX_MAX_ATTEMPTS"))


def max_event_data_bytes() -> int:
    """The largest `data` object a status event may carry, as compact UTF-8 JSON."""
    return _get("NOTIFY_MAX_EVENT_DATA_BYTES")


def jwt_public_key_file() -> str:
    """The PEM public key file socket JWTs are verified with (RS256/ES256); empty: none."""
    return _get("NOTIFY_JWT_PUBLIC_KEY_FILE")


def jwt_secret() -> str:
    """The HS256 secret socket JWTs are verified with; empty: none."""
    return _get("NOTIFY_JWT_SECRET")


def jwt_issuer() -> str:
    return _get("NOTIFY_JWT_ISSUER")


def jwt_audience() -> str:
    return _get("NOTIFY_JWT_AUDIENCE")


def jwt_leeway_secs() -> int:
    return _get("NOTIFY_JWT_LEEWAY_SECS")


def connection_events_exchange() -> str:
    """The durable topic exchange connection events are published to (PROTOCOL 5.2)."""
    return _get("NOTIFY_CONNECTION_EVENTS_EXCHANGE")


def webhook_timeout_secs() -> float:
    """How long a webhook POST may take before it counts as failed."""
    return _get("NOTIFY_WEBHOOK_TIMEOUT_SECS")


def webhook_first_retry_secs() -> float:
    """The delay before a failed webhook delivery's first retry (then doubling)."""
    return _get("NOTIFY_WEBHOOK_FIRST_RETRY_SECS")


def webhook_retry_secs() -> float:
    """How long after its event a webhook delivery is retried before it gives up."""
    return _get("NOTIFY_WEBHOOK_RETRY_SECS")


def webhook_concurrency() -> int:
    """Webhook POSTs in flight at once per endpoint on one instance."""
    return max(1, _get("NOTIFY_WEBHOOK_CONCURRENCY"))


def unseen_after_secs() -> float:
    """How long a finished request may stay unread before its owner is e-mailed; 0 turns it off."""
    return _get("NOTIFY_UNSEEN_AFTER_SECS")


def public_url() -> str:
    """The site's address as users reach it, without a trailing slash."""
    return _get("NOTIFY_PUBLIC_URL").rstrip("/")


def delivery_ledger() -> bool:
    """Whether sockets' deliveries are counted per event for the delivery ledger."""
    return bool(_get("NOTIFY_DELIVERY_LEDGER"))


def gateway_upstreams() -> dict[str, str]:
    """Return the configured upstream services by name (`name=base URL` pairs); raise ValueError for a bad pair."""
    upstreams = {}
    for pair in _get("NOTIFY_GATEWAY_UPSTREAMS"):
        name, sep, base_url = pair.strip().partition("=")
        if not sep or not name.strip() or not base_url.strip().startswith(("http://", "https://")):
            raise ValueError(f"NOTIFY_GATEWAY_UPSTREAMS: {pair[:80]!r} is not name=http(s)://base-url")
        upstreams[name.strip()] = base_url.strip()
    return upstreams


def gateway_private_key_file() -> str:
    """The PEM private key file upstream calls' JWTs are signed with; empty: none."""
    return _get("NOTIFY_GATEWAY_PRIVATE_KEY_FILE")


def gateway_timeout_secs() -> float:
    """How long an upstream call may take, connection to last byte, before it answers 504."""
    return _get("NOTIFY_GATEWAY_TIMEOUT_SECS")


def ingress_exchange() -> str:
    """The durable topic exchange of PROTOCOL 5.3; the queue and the rejected exchange are named after it."""
    return _get("NOTIFY_INGRESS_EXCHANGE")


def ingress_consumer_enabled() -> bool:
    """Whether this instance consumes the ingress queue (when it has a broker)."""
    return str(_get("NOTIFY_INGRESS_CONSUMER")).strip() not in ("0", "", "false", "no", "off")


def ingress_prefetch() -> int:
    """How many unacked ingress messages the broker may send this instance (more than a batch: the next one arrives
    while one is stored)."""
    return max(1, _get("NOTIFY_INGRESS_PREFETCH"))


def ingress_batch() -> int:
    """The most ingress messages stored in one transaction and acked with one ack."""
    return max(1, _get("NOTIFY_INGRESS_BATCH"))


def ingress_max_body_bytes() -> int:
    """The largest ingress message body stored; a larger one is refused with 400."""
    return _get("NOTIFY_INGRESS_MAX_BODY_BYTES")


def max_connects_per_sec() -> float:
    """New connections a second one instance takes before shedding with 1013; 0 turns shedding off."""
    return _get("NOTIFY_MAX_CONNECTS_PER_SEC")


def connect_burst() -> int:
    return _get("NOTIFY_CONNECT_BURST")
