"""Migrated template databases, so each Deployment copies one instead of running every migration again.

One template per database server and test process (so per xdist worker): the
first Deployment migrates it with `manage.py migrate`, as operators do; every
later one gets a copy (PostgreSQL's `CREATE DATABASE ... TEMPLATE`, or
SQLite's backup API), which holds the same schema and migration records.
Templates are dropped when the process exits.
"""

import atexit
import secrets
import shutil
import sqlite3
import tempfile
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path

# migrate(database_url) brings a new database to the current migrations.
Migrate = Callable[[str], None]

_lock = threading.Lock()
_templates: dict[str, str] = {}


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def run_admin_sql(server_url: str, statement: str) -> None:
    """Run one statement on the server's maintenance database (the one a URL names may not exist yet)."""
    import psycopg

    parts = urllib.parse.urlsplit(server_url)
    admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as connection:
        connection.execute(statement)


def with_database(server_url: str, name: str) -> str:
    """Return `server_url` naming the database `name`."""
    parts = urllib.parse.urlsplit(server_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def create_postgres_database(server_url: str, name: str, migrate: Migrate) -> None:
    """Create database `name` on the server as a copy of this process's migrated template."""
    template = _template(server_url, migrate, _make_postgres_template)
    run_admin_sql(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def create_sqlite_database(path: Path, migrate: Migrate) -> None:
    """Create the SQLite file `path` as a copy of this process's migrated template."""
    template = _template("sqlite", migrate, _make_sqlite_template)
    source, target = sqlite3.connect(template), sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _template(key: str, migrate: Migrate, make: Callable[[str, Migrate], str]) -> str:
    with _lock:
        if key not in _templates:
            _templates[key] = make(key, migrate)
        return _templates[key]


def _make_postgres_template(server_url: str, migrate: Migrate) -> str:
    name = f"notify_it_template_{secrets.token_hex(6)}"
    run_admin_sql(server_url, f'CREATE DATABASE "{name}"')
    atexit.register(run_admin_sql, server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    migrate(with_database(server_url, name))
    return name


def _make_sqlite_template(_key: str, migrate: Migrate) -> str:
    folder = Path(tempfile.mkdtemp(prefix="notify-it-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "template.sqlite3"
    migrate(f"sqlite:///{path}")
    return str(path)
