"""Settings for the notification service, read from the environment.

Every variable operators may set is named in README.md (Configuration). A `.env`
file beside manage.py may supply them; real environment variables win.
"""

import logging
import os
import sys
from pathlib import Path

import environ

from notifications.conf import SETTINGS as NOTIFY_SETTINGS

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

_DEVELOPMENT_SECRET_KEY = "django-insecure-development-key-do-not-use-in-production"
# Unset, the key `scripts/run` generated on this machine is used, so that
# `.venv/bin/python manage.py ...` signs what the running server signs.
_SECRET_KEY_FILE = BASE_DIR / "var" / "secret_key"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY and _SECRET_KEY_FILE.is_file():
    SECRET_KEY = _SECRET_KEY_FILE.read_text().strip()
if not SECRET_KEY:
    if not DEBUG:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off (or var/secret_key, which "
            "scripts/run generates). Set it to a long random value (for example: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    SECRET_KEY = _DEVELOPMENT_SECRET_KEY
    logging.getLogger("project.settings").warning(
        "DJANGO_SECRET_KEY is not set: using the development key. Never do this in production."
    )

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "project.asgi.application"

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads (and, in tests, processes) write: wait for the lock
    # instead of failing at once, and let readers run beside one writer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # Tests use a file too: an in-memory database shares its cache between
    # threads with table locks that ignore the timeout above.
    # One file per test process, so concurrent runs never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-db-{os.getpid()}.sqlite3")}
    (BASE_DIR / "var").mkdir(exist_ok=True)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI every request may run on a new thread, so persistent per-thread
    # connections pile up until PostgreSQL refuses clients. A pool bounds them.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_SIZE", default=10),
        "timeout": 10,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Mail (unseen finished requests): EMAIL_URL as django-environ reads it; by default written to the console.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="notify@localhost")

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Hashed, compressed files once `collectstatic` has run (scripts/run does);
# plain files from the app folders before that (tests, a fresh checkout).
_COLLECTED = (STATIC_ROOT / "staticfiles.json").exists() or "collectstatic" in sys.argv
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if _COLLECTED and not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Serve files straight from the finders when collectstatic has not run (tests, dev).
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=14 * 24 * 3600)

# --- The notification service -------------------------------------------------

# Every NOTIFY_* knob, read from the environment with the one table of defaults
# (notifications/conf.py); the code reads them through `notifications.conf`.
_ENV_READERS = {str: env.str, int: env.int, float: env.float, list: env.list}
_NOTIFY = {name: _ENV_READERS[knob.kind](name, default=knob.default) for name, knob in NOTIFY_SETTINGS.items()}
globals().update(_NOTIFY)

if _NOTIFY["NOTIFY_AMQP_URL"]:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_rabbitmq.core.RabbitmqChannelLayer",
            "CONFIG": {
                # The first node; the hub's link picks among all of them (notifications/realtime/broker_nodes.py).
                "host": _NOTIFY["NOTIFY_AMQP_URL"].split(",")[0].strip(),
                # The defaults (100/100) drop messages in bursts; see docs/architecture.md.
                "local_capacity": _NOTIFY["NOTIFY_AMQP_LOCAL_CAPACITY"],
                "remote_capacity": _NOTIFY["NOTIFY_AMQP_REMOTE_CAPACITY"],
                "local_expiry": _NOTIFY["NOTIFY_AMQP_LOCAL_EXPIRY"],
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "notifications.api.authentication.ServiceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        # Only requests a socket's `request` frame runs in process (never one from the network, which has
        # no such attribute); last, so the first class still names the scheme of a 401.
        "notifications.api.authentication.GatewayUserAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "notifications.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Notification service API",
    "DESCRIPTION": "Publish request-status events and announcements; read a user's stream.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# One line per record: key=value (plain, the default) or JSON (DJANGO_LOG_FORMAT=json). Every
# handler redacts tokens, tickets, cookies and passwords, whoever logged them.
LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "notifications.ops.logfmt.RedactSecrets"}},
    "formatters": {
        "plain": {"()": "notifications.ops.logfmt.KeyValueFormatter"},
        "json": {"()": "notifications.ops.logfmt.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # The layer logs a traceback a second while the broker is down; our
        # hub reports the outage once, in plain words.
        "channels_rabbitmq": {"level": _NOTIFY["NOTIFY_AMQP_LOG_LEVEL"]},
    },
}
