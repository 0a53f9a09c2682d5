"""Settings read once, at the edge, from environment variables (with defaults for the local set-up).

| variable              | default                       | what it does                                         |
|-----------------------|-------------------------------|------------------------------------------------------|
| UNIFY_HOME            | <project>/.unify              | git-ignored working folder: warehouse data, landing   |
| UNIFY_PG_HOST         | (unset: embedded warehouse)   | set it to use an external PostgreSQL instead          |
| UNIFY_PG_PORT         | 54329                         | TCP port of the local (or external) PostgreSQL        |
| UNIFY_PG_USER         | postgres                      | user the tools and dbt's `local` target connect as    |
| UNIFY_PG_PASSWORD     | (empty)                       | password for an external PostgreSQL                   |
| UNIFY_PG_DATABASE     | unify                         | database holding raw schemas and dbt's schemas        |
| UNIFY_LANDING         | <UNIFY_HOME>/landing          | landing zone: a folder, or s3://bucket[/prefix]       |

The same names are read by profiles.yml (`env_var(...)`), so dbt and the tools always agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_PORT = 54329
DEFAULT_DATABASE = "unify"
DEFAULT_USER = "postgres"


def project_root() -> Path:
    """The dbt project root: the folder holding dbt_project.yml (the repository checkout)."""
    here = Path(__file__).resolve().parent.parent
    if (here / "dbt_project.yml").exists():
        return here
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "dbt_project.yml").exists():
            return folder
    return cwd


@dataclass(frozen=True)
class Settings:
    root: Path
    home: Path
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    pg_database: str
    external: bool
    landing: str

    @property
    def data_dir(self) -> Path:
        return self.home / "pgdata"

    def dsn(self, database: str | None = None, user: str | None = None) -> str:
        """A libpq key/value connection string (psycopg2 and psql accept it)."""
        parts = {
            "host": self.pg_host,
            "port": str(self.pg_port),
            "user": user or self.pg_user,
            "dbname": database or self.pg_database,
        }
        if self.pg_password and user is None:
            parts["password"] = self.pg_password
        return " ".join(f"{k}={_quote_libpq(v)}" for k, v in parts.items())

    def url(self, database: str | None = None, user: str | None = None) -> str:
        """A postgresql:// URL without the password (safe to print and log)."""
        return f"postgresql://{user or self.pg_user}@{self.pg_host}:{self.pg_port}/{database or self.pg_database}"

    def with_database(self, database: str) -> "Settings":
        return replace(self, pg_database=database)


def _quote_libpq(value: str) -> str:
    if value and all(c.isalnum() or c in "._-/:@" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    root = project_root()
    home = Path(env.get("UNIFY_HOME") or root / ".unify").expanduser().resolve()
    host = env.get("UNIFY_PG_HOST", "").strip()
    port_text = env.get("UNIFY_PG_PORT", "").strip() or str(DEFAULT_PORT)
    try:
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        raise SystemExit(f"UNIFY_PG_PORT must be a TCP port number (1-65535), not {port_text!r}") from None
    return Settings(
        root=root,
        home=home,
        pg_host=host or "127.0.0.1",
        pg_port=port,
        pg_user=env.get("UNIFY_PG_USER") or DEFAULT_USER,
        pg_password=env.get("UNIFY_PG_PASSWORD", ""),
        pg_database=env.get("UNIFY_PG_DATABASE") or DEFAULT_DATABASE,
        external=bool(host),
        landing=env.get("UNIFY_LANDING") or str(home / "landing"),
    )
