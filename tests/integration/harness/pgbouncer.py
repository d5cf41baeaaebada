"""A private PgBouncer in front of the test PostgreSQL server, in transaction pooling mode.

    with PgBouncer(tmp_path, "127.0.0.1", 5432) as bouncer:
        url = bouncer.url_through(database_url)   # the same database, through PgBouncer
        bouncer.show("POOLS")                      # its admin console, as rows of dicts

Started in the foreground by PID and stopped the same way; it never touches
a system-wide PgBouncer. As root it drops to `nobody`, since PgBouncer will
not run as root; its files are read before it does.
"""

import os
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path

import psycopg

from .ports import free_port
from .processes import stop_process

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
START_TIMEOUT_SECS = 10.0
STOP_TIMEOUT_SECS = 5.0
ADMIN_USER = "postgres"


class PgBouncer:
    """PgBouncer on 127.0.0.1:`port`, pooling every database of `target_host`:`target_port` per transaction."""

    def __init__(self, workdir: Path, target_host: str, target_port: int, *, pool_size: int = 5) -> None:
        self.workdir = workdir
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "users.txt").write_text(f'"{ADMIN_USER}" ""\n')
        (workdir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={target_host} port={target_port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {workdir / 'users.txt'}\nadmin_users = {ADMIN_USER}\n"
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
        )
        command = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "nobody"]
        self.log = workdir / "pgbouncer.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def url_through(self, url: str) -> str:
        """Return `url` (postgres://user@host:port/name) with its host and port replaced by PgBouncer's."""
        parts = urllib.parse.urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    def show(self, what: str) -> list[dict]:
        """Return the rows of the admin console's `SHOW <what>` (POOLS, STATS, ...)."""
        # The console speaks only the simple query protocol: no parameters, no prepared statements.
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=ADMIN_USER, dbname="pgbouncer", autocommit=True
        ) as connection:
            cursor = psycopg.ClientCursor(connection)
            cursor.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited {self.process.returncode}:\n{self.log.read_text()[-2000:]}")
            try:
                self.show("VERSION")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"pgbouncer did not answer in {START_TIMEOUT_SECS}s") from None
                time.sleep(0.1)

    def close(self) -> None:
        stop_process(self.process, STOP_TIMEOUT_SECS)

    def __enter__(self) -> "PgBouncer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
