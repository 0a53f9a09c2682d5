"""`unify warehouse`: the embedded local warehouse, run the way a user runs it (the real command)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from loaders.config import load_settings
from unify.local_warehouse import LocalWarehouse, WarehouseError

from support import free_port


def unify(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unify.cli", "warehouse", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def own_home():
    """An environment with its own UNIFY_HOME and port: a second, private local warehouse.

    The home lives under the project's .unify/, not pytest's tmp folder: as root the server runs as
    the `pgserver` user, and another pytest session can reset pytest's tmp root to mode 0700, after
    which that user can no longer reach its data and `stop` fails."""
    parent = load_settings().home
    parent.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="warehouse-test-", dir=parent))
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFY_")}
    env.update(UNIFY_HOME=str(home), UNIFY_PG_PORT=str(free_port()))
    yield env
    unify(env, "stop")
    shutil.rmtree(home, ignore_errors=True)


def test_start_is_idempotent_and_stop_keeps_the_data(own_home):
    first = unify(own_home, "start")
    assert first.returncode == 0, first.stderr
    assert "created a new data folder" in first.stdout
    assert f"port {own_home['UNIFY_PG_PORT']}" in first.stdout

    again = unify(own_home, "start")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout

    made = unify(own_home, "psql", "-v", "ON_ERROR_STOP=1", "-c",
                 "create table kept (n int); insert into kept values (42);")
    assert made.returncode == 0, made.stderr
    assert unify(own_home, "status").returncode == 0

    stopped = unify(own_home, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    status = unify(own_home, "status")
    assert status.returncode == 3 and "stopped" in status.stdout
    assert unify(own_home, "stop").returncode == 0  # stopping a stopped warehouse is fine

    restarted = unify(own_home, "start")
    assert restarted.returncode == 0, restarted.stderr
    assert "created a new data folder" not in restarted.stdout
    kept = unify(own_home, "psql", "-At", "-c", "select n from kept")
    assert kept.stdout.strip() == "42"


def test_stop_with_another_port_leaves_the_running_warehouse_alone(own_home):
    """UNIFY_PG_PORT names the warehouse meant: `stop` from a second checkout (another port, the same
    installed package, so the same data folder) used to stop the first one's server, tests and all."""
    assert unify(own_home, "start").returncode == 0
    other = {**own_home, "UNIFY_PG_PORT": str(free_port())}
    refused = unify(other, "stop")
    assert refused.returncode != 0
    assert (f"runs on port {own_home['UNIFY_PG_PORT']}, but UNIFY_PG_PORT says {other['UNIFY_PG_PORT']}: "
            "not stopped") in refused.stdout + refused.stderr
    assert unify(own_home, "status").returncode == 0  # still running
    assert unify(own_home, "stop").returncode == 0


def test_url_names_the_database_and_port(own_home):
    out = unify(own_home, "url")
    assert out.stdout.strip() == f"postgresql://postgres@127.0.0.1:{own_home['UNIFY_PG_PORT']}/unify"


def test_port_in_use_is_reported(own_home):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(own_home["UNIFY_PG_PORT"])))
        squatter.listen()
        result = unify(own_home, "start")
    assert result.returncode == 1
    assert f"port {own_home['UNIFY_PG_PORT']} on 127.0.0.1 is already in use" in result.stderr
    assert "UNIFY_PG_PORT" in result.stderr


def test_stale_pid_file_is_reported_and_removed(own_home):
    assert unify(own_home, "start").returncode == 0
    assert unify(own_home, "stop").returncode == 0
    data = Path(own_home["UNIFY_HOME"]) / "pgdata"
    # A postmaster.pid left by a crash: its pid belongs to a process that has exited.
    dead = subprocess.Popen(["true"])
    dead.wait()
    (data / "postmaster.pid").write_text(f"{dead.pid}\n{data}\n0\n{own_home['UNIFY_PG_PORT']}\n\n127.0.0.1\n0 0\nready\n")
    status = unify(own_home, "status")
    assert status.returncode == 3 and "stale postmaster.pid" in status.stdout
    started = unify(own_home, "start")
    assert started.returncode == 0, started.stderr
    assert f"removed a stale postmaster.pid (pid {dead.pid}" in started.stdout


def test_no_disk_space_is_reported(monkeypatch, tmp_path):
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(10**9, 10**9 - 5 * 10**6, 5 * 10**6))
    settings = load_settings({"UNIFY_HOME": str(tmp_path / "home"), "UNIFY_PG_PORT": str(free_port())})
    with pytest.raises(WarehouseError, match=r"no disk space for the local warehouse: 5 MB free"):
        LocalWarehouse(settings).start()
    assert not (tmp_path / "home" / "pgdata" / "PG_VERSION").exists()


def test_external_postgres_is_used_not_managed(warehouse):
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFY_")}
    env.update(UNIFY_PG_HOST="127.0.0.1", UNIFY_PG_PORT=str(warehouse.pg_port))
    started = unify(env, "start")
    assert started.returncode == 0, started.stderr
    assert "external PostgreSQL reachable" in started.stdout
    assert "not stopped by unify" in unify(env, "stop").stdout
    assert unify(env, "status").returncode == 0  # still running: stop left it alone

    env["UNIFY_PG_PORT"] = str(free_port())  # nothing listens there
    refused = unify(env, "start")
    assert refused.returncode == 1
    assert "does not answer" in refused.stderr
