"""One service as operators run it: a database, a namespace, and daphne instances.

Every instance of a deployment shares its database, secret key and
NOTIFY_NAMESPACE, so they form one service; two deployments (or two test runs
on the shared broker) never hear each other.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from . import templates
from .daphne import PROJECT_DIR, DaphneInstance

MANAGE_TIMEOUT_SECS = 120.0
DEFAULT_ALLOWED_HOSTS = "127.0.0.1,localhost"
PASSWORD_ENV = "IT_HARNESS_PASSWORD"
CREATE_USER_SCRIPT = f"""
import os
from django.contrib.auth import get_user_model
user, _ = get_user_model().objects.get_or_create(username=os.environ["IT_HARNESS_USERNAME"])
user.is_staff = user.is_superuser = os.environ["IT_HARNESS_STAFF"] == "1"
user.set_password(os.environ["{PASSWORD_ENV}"])
user.save()
print(user.pk)
"""

# One process for a test's whole cast: users (name -> password, from JSON in the environment) and a token.
PROVISION_ENV = "IT_HARNESS_PROVISION"
PROVISION_SCRIPT = f"""
import io, json, os
from django.contrib.auth import get_user_model
from django.core.management import call_command
cast = json.loads(os.environ["{PROVISION_ENV}"])
ids = {{}}
for name, password in cast["users"].items():
    user, _ = get_user_model().objects.get_or_create(username=name)
    user.is_staff = user.is_superuser = False
    user.set_password(password)
    user.save()
    ids[name] = user.pk
out = io.StringIO()
call_command("create_service_token", cast["token"], permission=cast["permissions"], stdout=out, stderr=io.StringIO())
print(json.dumps({{"ids": ids, "token": out.getvalue().strip()}}))
"""


class ManageCommandError(RuntimeError):
    """A manage.py subprocess failed; the message carries its output."""


def collect_static() -> None:
    """Run collectstatic into the project's STATIC_ROOT, as operators do before starting daphne.

    With DEBUG off the manifest storage needs it; every deployment shares the result.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "NOTIFY_"))}
    env.update(DJANGO_SECRET_KEY="collectstatic", DJANGO_DEBUG="false", DJANGO_SETTINGS_MODULE="project.settings")
    command = [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"]
    done = subprocess.run(
        command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=MANAGE_TIMEOUT_SECS
    )
    if done.returncode != 0:
        raise ManageCommandError(f"collectstatic exited {done.returncode}\n{done.stdout}\n{done.stderr}")


class Deployment:
    """A fresh database plus the environment its daphne instances share.

    `database_url` defaults to the test process's DATABASE_URL: a postgres://
    URL gets a new database `notify_it_<hex>` on that server (dropped by
    `close()`); anything else gets an SQLite file under `workdir`. Either is a
    copy of a template migrated once per test process (harness/templates.py).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        amqp_url: str | None = None,
        database_url: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.amqp_url = amqp_url
        self.namespace = "it" + secrets.token_hex(6)
        self.secret_key = secrets.token_urlsafe(40)
        self.extra_env = dict(extra_env or {})
        self.instances: list[DaphneInstance] = []
        self._server_url = database_url if database_url is not None else os.environ.get("DATABASE_URL", "")
        self._pg_database: str | None = None
        self.database_url = ""
        self.database_url = self._create_database()

    # --- the database --------------------------------------------------------

    def _create_database(self) -> str:
        """Create this deployment's database as a copy of the process's migrated template and return its URL."""
        if not templates.is_postgres(self._server_url):
            path = (self.workdir / "db.sqlite3").resolve()
            templates.create_sqlite_database(path, self._migrate_template)
            return f"sqlite:///{path}"
        name = f"notify_it_{self.namespace[2:]}"
        templates.create_postgres_database(self._server_url, name, self._migrate_template)
        self._pg_database = name
        return templates.with_database(self._server_url, name)

    def _migrate_template(self, database_url: str) -> None:
        # Without this deployment's extra_env: the template serves every deployment.
        self.manage("migrate", "--noinput", env={**self._base_env(), "DATABASE_URL": database_url})

    def _drop_database(self) -> None:
        if self._pg_database is not None:
            templates.run_admin_sql(self._server_url, f'DROP DATABASE IF EXISTS "{self._pg_database}" WITH (FORCE)')
            self._pg_database = None

    def migrate(self) -> None:
        """Bring the deployment's database to the current migrations."""
        self.manage("migrate", "--noinput")

    # --- the shared environment ----------------------------------------------

    def env(self, **overrides: str | None) -> dict[str, str]:
        """Return the environment of a process of this deployment; a None override removes the variable."""
        env = self._base_env()
        env.update(self.extra_env)
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def _base_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "NOTIFY_"))}
        env.update(
            PYTHONUNBUFFERED="1",
            DJANGO_SETTINGS_MODULE="project.settings",
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY=self.secret_key,
            DJANGO_ALLOWED_HOSTS=DEFAULT_ALLOWED_HOSTS,
            DATABASE_URL=self.database_url,
            NOTIFY_NAMESPACE=self.namespace,
            NOTIFY_AMQP_URL=self.amqp_url or "",
            # Off unless a test asks for it: a consumer declares a durable queue on the shared broker.
            NOTIFY_INGRESS_CONSUMER="0",
        )
        return env

    def manage(self, *args: str, env: dict[str, str] | None = None, timeout: float = MANAGE_TIMEOUT_SECS) -> str:
        """Run `manage.py ARGS` against this deployment and return its stdout; raise on failure."""
        command = [sys.executable, "manage.py", *args]
        try:
            done = subprocess.run(
                command, cwd=PROJECT_DIR, env=env or self.env(), capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise ManageCommandError(f"manage.py {' '.join(args)} took over {timeout}s") from exc
        if done.returncode != 0:
            raise ManageCommandError(
                f"manage.py {' '.join(args)} exited {done.returncode}\n"
                f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            )
        return done.stdout

    def create_user(self, username: str, password: str, staff: bool = False) -> int:
        """Create (or reset) a user and return its id."""
        env = self.env(IT_HARNESS_USERNAME=username, IT_HARNESS_STAFF="1" if staff else "0")
        env[PASSWORD_ENV] = password
        stdout = self.manage("shell", "--no-imports", "-c", CREATE_USER_SCRIPT, env=env)
        return int(stdout.strip().splitlines()[-1])

    def provision(self, users: dict[str, str], token_name: str, *permissions: str) -> tuple[dict[str, int], str]:
        """Create (or reset) these users (name -> password, not staff) and a service token in one process.

        Return the users' ids by name and the raw token: what `create_user` and
        `create_service_token` do, one Django start instead of one each.
        """
        cast = {"users": users, "token": token_name, "permissions": list(permissions)}
        env = self.env()
        env[PROVISION_ENV] = json.dumps(cast)
        stdout = self.manage("shell", "--no-imports", "-c", PROVISION_SCRIPT, env=env)
        done = json.loads(stdout.strip().splitlines()[-1])
        if not done["token"]:
            raise ManageCommandError(f"create_service_token {token_name} printed no token")
        return done["ids"], done["token"]

    def create_service_token(self, name: str, *permissions: str) -> str:
        """Create (or rotate) a service client with these permissions and return its raw token."""
        args = ["create_service_token", name]
        for permission in permissions:
            args += ["--permission", permission]
        lines = [line.strip() for line in self.manage(*args).splitlines() if line.strip()]
        if not lines:
            raise ManageCommandError(f"create_service_token {name} printed no token")
        return lines[-1]

    # --- daphne instances ----------------------------------------------------

    def instance(
        self,
        name: str | None = None,
        *,
        amqp_url: str | None = None,
        port: int | None = None,
        env: dict[str, str | None] | None = None,
        start: bool = True,
        server: str = "daphne",
    ) -> DaphneInstance:
        """Return a new daphne instance of this deployment, started and ready unless `start=False`.

        `amqp_url` overrides the deployment's broker URL for this instance only
        (point it at a TcpProxy to break that instance's broker link).
        """
        name = name or f"daphne-{len(self.instances) + 1}"
        overrides: dict[str, str | None] = {"NOTIFY_INSTANCE_NAME": name, **(env or {})}
        if amqp_url is not None:
            overrides["NOTIFY_AMQP_URL"] = amqp_url
        instance = DaphneInstance(name, self.env(**overrides), self.workdir / "logs", port=port, server=server)
        self.instances.append(instance)
        if start:
            instance.start()
            instance.wait_ready()
        return instance

    def close(self) -> None:
        """Stop every instance, then drop the database (PostgreSQL)."""
        for instance in self.instances:
            instance.begin_terminate()
        for instance in self.instances:
            instance.terminate()
        self._drop_database()

    def log_report(self, lines: int = 60) -> str:
        """Return each instance's log path and last lines, for a failed test's output."""
        return "\n".join(instance.log_report(lines) for instance in self.instances)

    def __enter__(self) -> "Deployment":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Deployment {self.namespace} db={self.database_url.split('://')[0]} instances={len(self.instances)}>"
