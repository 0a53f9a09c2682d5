"""The local warehouse: PostgreSQL 16 from pgserver's bundled binaries, in a git-ignored data folder.

`unify warehouse start|stop|status|url|psql`. The server keeps running across commands (it is a normal
`pg_ctl` server, not tied to the Python process), start is idempotent, and start after stop reuses the
data. It listens on 127.0.0.1 only (no Unix socket, so deep checkout paths never hit the socket-path
limit), port UNIFY_PG_PORT (default 54329), trust authentication: a developer's machine, not a server.

As root (CI, containers) PostgreSQL refuses to run, so the binaries run as the `pgserver` system user
that owns the data folder (pgserver's own helpers create it); as anyone else they run as that user.

With UNIFY_PG_HOST set, everything points at that external PostgreSQL instead and `start`/`stop`
only check and report: nothing is started or stopped there.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil

from loaders.config import Settings

SERVICE_USER = "pgserver"
MIN_FREE_BYTES = 256 * 1024 * 1024
START_TIMEOUT_S = 60
SERVER_SETTINGS = {
    # Local stand-in for Redshift: loopback only, room for 100 concurrent dashboard sessions (bench).
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "250",
    "shared_buffers": "'256MB'",
    "work_mem": "'16MB'",
    "maintenance_work_mem": "'256MB'",
    "max_wal_size": "'2GB'",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %q%u@%d '",
    "timezone": "'UTC'",
}


class WarehouseError(Exception):
    """Something stops the local warehouse from starting or answering; the message says what."""


@dataclass(frozen=True)
class Status:
    running: bool
    managed: bool
    url: str
    pid: int | None = None
    port: int | None = None
    data_dir: Path | None = None
    version: str | None = None
    size_bytes: int | None = None
    note: str | None = None

    def describe(self) -> str:
        if not self.managed:
            state = "reachable" if self.running else "NOT reachable"
            lines = [f"external PostgreSQL {state}: {self.url} (not managed by unify)"]
        elif self.running:
            lines = [f"running: pid {self.pid}, port {self.port}", f"url:  {self.url}"]
        else:
            lines = ["stopped"]
        if self.managed and self.data_dir is not None:
            size = f" ({self.size_bytes / 1e6:.0f} MB)" if self.size_bytes is not None else ""
            lines.append(f"data: {self.data_dir}{size}")
        if self.version:
            lines.append(f"version: {self.version}")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def bin_dir() -> Path:
    """pgserver's bundled PostgreSQL binaries (found without importing pgserver, whose import has
    side effects: it creates a lock file in the user's runtime folder)."""
    import importlib.util

    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise WarehouseError("the pgserver package is not installed: run `make install`")
    return Path(spec.origin).resolve().parent / "pginstall" / "bin"


def _pgserver_utils():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root)
        from pgserver import utils
    return utils


class LocalWarehouse:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.data_dir = settings.data_dir
        self.log_file = settings.home / "postgres.log"
        self.as_root = os.geteuid() == 0

    # ----------------------------------------------------------------------------------- commands
    def start(self) -> Status:
        if self.settings.external:
            status = self.status()
            if not status.running:
                raise WarehouseError(
                    f"UNIFY_PG_HOST is set, but {self.settings.url()} does not answer: start that server, "
                    "or unset UNIFY_PG_HOST to use the embedded warehouse"
                )
            self.ensure_database()
            return status
        with self._lock():
            notes = []
            running = self._running_pid()
            if running is None:
                self._check_disk()
                if not (self.data_dir / "PG_VERSION").exists():
                    self._initdb()
                    notes.append(f"created a new data folder in {self.data_dir}")
                stale = self._remove_stale_pid_file()
                if stale:
                    notes.append(stale)
                self._check_port_free()
                self._pg_ctl_start()
            elif (other := self._other_port()) is not None:
                raise WarehouseError(
                    f"the local warehouse is already running on port {other}, but "
                    f"UNIFY_PG_PORT says {self.settings.pg_port}: stop it first (`unify warehouse stop`)"
                )
            else:
                notes.append("already running")
            self.ensure_database()
        status = self.status()
        return Status(**{**status.__dict__, "note": "; ".join(notes) or None})

    def stop(self) -> Status:
        if self.settings.external:
            return Status(False, False, self.settings.url(), note="external PostgreSQL: not stopped by unify")
        with self._lock():
            if self._running_pid() is None:
                stale = self._remove_stale_pid_file()
                return Status(False, True, self.settings.url(), data_dir=self.data_dir,
                              note=stale or "was not running")
            if (other := self._other_port()) is not None:
                # the port names the warehouse the caller means; this folder's server is another one
                raise WarehouseError(
                    f"the local warehouse in {self.data_dir} runs on port {other}, but "
                    f"UNIFY_PG_PORT says {self.settings.pg_port}: not stopped (a warehouse on port "
                    f"{self.settings.pg_port} has its own folder: set UNIFY_HOME to it)"
                )
            self._run_pg("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60")
        return Status(False, True, self.settings.url(), data_dir=self.data_dir)

    def status(self) -> Status:
        url = self.settings.url()
        if self.settings.external:
            return Status(self._answers(), False, url, version=self._server_version())
        pid = self._running_pid()
        size = _folder_size(self.data_dir) if self.data_dir.exists() else None
        if pid is None:
            note = None
            if (self.data_dir / "postmaster.pid").exists():
                note = "a stale postmaster.pid is present (the next start removes it)"
            if not (self.data_dir / "PG_VERSION").exists():
                note = "no data folder yet: `unify warehouse start` creates it"
            return Status(False, True, url, data_dir=self.data_dir, size_bytes=size, note=note)
        return Status(True, True, url, pid=pid, port=self._configured_port(), data_dir=self.data_dir,
                      version=self._server_version(), size_bytes=size)

    def psql_command(self, args: list[str]) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        if self.settings.pg_password:
            env["PGPASSWORD"] = self.settings.pg_password
        cmd = [str(bin_dir() / "psql"), "-h", self.settings.pg_host, "-p", str(self.settings.pg_port),
               "-U", self.settings.pg_user, "-d", self.settings.pg_database, *args]
        return cmd, env

    # ----------------------------------------------------------------------------------- helpers
    def ensure_database(self, database: str | None = None) -> None:
        """Create the project database if it does not exist (idempotent)."""
        import psycopg2
        from psycopg2 import sql

        database = database or self.settings.pg_database
        with _connect(self.settings.dsn(database="postgres")) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (database,))
                if cur.fetchone() is None:
                    try:
                        cur.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
                    except psycopg2.errors.DuplicateDatabase:
                        pass  # created by a concurrent start

    def drop_database(self, database: str) -> None:
        """Drop a database if it exists, cutting the sessions still connected to it (idempotent)."""
        from psycopg2 import sql

        with _connect(self.settings.dsn(database="postgres")) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))

    def _running_pid(self) -> int | None:
        """The postmaster's pid if a server for this data folder is running."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError, PermissionError):
            return None
        try:
            proc = psutil.Process(pid)
            if proc.name() == "postgres" and proc.status() != psutil.STATUS_ZOMBIE:
                return pid
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        return None

    def _configured_port(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[3])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def _other_port(self) -> int | None:
        """The port this folder's running server listens on, when UNIFY_PG_PORT names another one."""
        port = self._configured_port()
        return port if port not in (None, self.settings.pg_port) else None

    def _remove_stale_pid_file(self) -> str | None:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists() or self._running_pid() is not None:
            return None
        try:
            old = pid_file.read_text().splitlines()[0]
        except (IndexError, OSError):
            old = "?"
        pid_file.unlink()
        return (f"removed a stale postmaster.pid (pid {old} is not a running PostgreSQL; "
                "the server was not shut down cleanly last time)")

    def _check_disk(self) -> None:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.settings.home).free
        if free < MIN_FREE_BYTES:
            raise WarehouseError(
                f"no disk space for the local warehouse: {free / 1e6:.0f} MB free under {self.settings.home}, "
                f"at least {MIN_FREE_BYTES / 1e6:.0f} MB needed; free some space or set UNIFY_HOME elsewhere"
            )

    def _check_port_free(self) -> None:
        port = self.settings.pg_port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as err:
                if err.errno != errno.EADDRINUSE:
                    raise
                raise WarehouseError(
                    f"port {port} on 127.0.0.1 is already in use{_port_owner(port)}; "
                    "set UNIFY_PG_PORT to a free port (and use the same value for dbt), or stop that program"
                ) from None

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.data_dir)
        self._run_pg("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                     "--encoding=UTF8", "--no-locale", "--no-instructions")
        conf = self.data_dir / "postgresql.conf"
        extra = "\n# Project Unify local warehouse\n" + "".join(f"{k} = {v}\n" for k, v in SERVER_SETTINGS.items())
        with conf.open("a") as handle:
            handle.write(extra)

    def _pg_ctl_start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        self._hand_over(self.log_file)
        try:
            self._run_pg("pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file), "-w",
                         "-t", str(START_TIMEOUT_S), "-o", f"-p {self.settings.pg_port}")
        except WarehouseError as err:
            raise WarehouseError(f"{err}\nlast lines of {self.log_file}:\n{_tail(self.log_file)}") from None
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            if time.monotonic() > deadline:
                raise WarehouseError(f"PostgreSQL started but does not accept connections; see {self.log_file}")
            time.sleep(0.2)

    def _hand_over(self, path: Path) -> None:
        """As root, give `path` to the service user and let it traverse the parent folders."""
        if not self.as_root:
            return
        import stat

        utils = _pgserver_utils()
        entry = utils.ensure_user_exists(SERVICE_USER)
        utils.ensure_prefix_permissions(path)
        binaries = bin_dir()
        utils.ensure_prefix_permissions(binaries)
        utils.ensure_folder_permissions(binaries, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
        utils.ensure_folder_permissions(binaries.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run_pg(self, program: str, *args: str) -> str:
        cmd = [str(bin_dir() / program), *args]
        if self.as_root:
            cmd = ["runuser", "-u", SERVICE_USER, "--", *cmd]
        # pg_ctl's server inherits stdout/stderr: give it files, never pipes, or the call never returns.
        with open(os.devnull, "rb") as devnull_in, tempfile.TemporaryFile() as out:
            proc = subprocess.run(cmd, stdin=devnull_in, stdout=out, stderr=subprocess.STDOUT,
                                  cwd=self.settings.home if self.settings.home.exists() else None)
            out.seek(0)
            text = out.read().decode(errors="replace")
        if proc.returncode != 0:
            raise WarehouseError(f"{program} failed (exit {proc.returncode}): {text.strip()}")
        return text

    def _answers(self) -> bool:
        try:
            with _connect(self.settings.dsn(database="postgres"), timeout=3):
                return True
        except Exception:  # noqa: BLE001 - any failure means "does not answer"
            return False

    def _server_version(self) -> str | None:
        try:
            with _connect(self.settings.dsn(database="postgres"), timeout=3) as conn, conn.cursor() as cur:
                cur.execute("show server_version")
                return f"PostgreSQL {cur.fetchone()[0]}"
        except Exception:  # noqa: BLE001
            return None

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start/stop between processes (two `make` targets starting at once)."""
        self.settings.home.mkdir(parents=True, exist_ok=True)
        with open(self.settings.home / ".warehouse.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _connect(dsn: str, timeout: int = 10) -> closing:
    """A connection closed on leaving the `with` (psycopg2's own `with` only ends the transaction)."""
    import psycopg2

    return closing(psycopg2.connect(dsn, connect_timeout=timeout))


def _port_owner(port: int) -> str:
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f" by {proc.name()} (pid {conn.pid})"
    except (psutil.Error, OSError):
        pass
    return " by another program"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total
