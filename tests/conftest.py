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

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
async def hub():
    """Start this process's hub on the test's loop (the in-process layer unless configured) and stop it after."""
    from notifications.realtime.hub import Hub

    hub = await Hub.ensure_started()
    yield hub
    await hub.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None):
    """Give this run its own PostgreSQL test database, and drop it for sure at the end.

    Concurrent runs on one server would otherwise share `test_<name>`. Threads of
    async tests may keep connections open (CONN_MAX_AGE), which makes Django's
    own DROP fail; hence the forced drop.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        yield
        return
    test_name = f"test_{database['NAME']}_{os.getpid()}"
    database.setdefault("TEST", {})["NAME"] = test_name
    yield
    _force_drop_postgres_database(database, test_name)


def _force_drop_postgres_database(database: dict, name: str) -> None:
    import psycopg

    params = {"host": database["HOST"], "port": database["PORT"] or 5432, "user": database["USER"]}
    params.update({"password": database["PASSWORD"]} if database["PASSWORD"] else {})
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **params) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Tests that start real processes are marked by their folder, so `-m integration`
# (or `browser`, `faults`, `bench`, `scale`) selects them and `-m "not integration"` leaves them out.
FOLDER_MARKERS = {
    "integration": ("integration",),
    "browser": ("integration", "browser"),
    "faults": ("integration", "faults"),
    "bench": ("integration", "bench"),
    "scale": ("integration", "scale"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        relative = Path(item.path).relative_to(tests_dir)
        for name in FOLDER_MARKERS.get(relative.parts[0], ()) if len(relative.parts) > 1 else ():
            item.add_marker(getattr(pytest.mark, name))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the item, so fixtures can print logs and save artifacts for failed tests."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
