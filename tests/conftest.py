"""Test-wide environment, fixed before Django's settings are first imported.

pytest-django imports the settings module as soon as it knows its name, which
happens before any conftest runs when the name is in the ini file; that is why
DJANGO_SETTINGS_MODULE is set here and not in pyproject.toml.
"""

import os

# Tests run as production does (DEBUG off), whatever a developer's .env says:
# real environment variables win over .env.
os.environ["DJANGO_DEBUG"] = "false"
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key")
# Unit tests use the in-process channel layer unless the caller asks for RabbitMQ
# explicitly; integration tests read NOTIFY_TEST_AMQP_URL instead.
os.environ.setdefault("NOTIFY_AMQP_URL", "")
# `DATABASE_URL=` (empty) means the default SQLite file, as for the app.
if not os.environ.get("DATABASE_URL"):
    os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402  (the environment above must be in place first)

# pytest-django finishes its setup in its own pytest_configure, but only for
# settings that are already loaded; load them now that the environment is set.
django.setup()


import pytest  # noqa: E402


@pytest.fixture
async def hub():
    """Start this process's hub on the test's loop (the in-process layer unless configured) and stop it after."""
    from notifications.hub import Hub

    hub = await Hub.ensure_started()
    yield hub
    await hub.stop()
