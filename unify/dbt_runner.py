"""Run dbt from Python (the main job, tests, benchmarks) against the warehouse the settings name.

dbt runs as a subprocess of the venv's own `dbt`, so a crash in dbt never takes the caller down.
`run_dbt` streams dbt's output (or captures it for tests and benchmarks); `run_dbt_logged` keeps the
terminal quiet for the main job: dbt's full log goes to its log file, and only progress, warnings and
errors reach the caller (`DbtRun`, `DbtError`). The connection comes from the same UNIFY_PG_*
variables the profile reads; the profile is the project's ./profiles.yml, created from
profiles.yml.example when missing (`ensure_profile`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from loaders.config import Settings, project_root


def dbt_schema(env: dict[str, str] | None = None) -> str:
    """dbt's target schema, which profiles.yml reads from UNIFY_SCHEMA (default analytics); the layers
    are `<it>_staging`, `<it>_marts`, `<it>_reporting`, ..."""
    return (os.environ if env is None else env).get("UNIFY_SCHEMA") or "analytics"


def dbt_target_path() -> Path:
    """Where dbt writes its artifacts: DBT_TARGET_PATH (relative to the project root, where the loaders
    run dbt) or <root>/target."""
    env = os.environ.get("DBT_TARGET_PATH")
    if env:
        path = Path(env)
        return path if path.is_absolute() else project_root() / path
    return project_root() / "target"


class DbtError(Exception):
    """dbt exited non-zero; the message names the command and where its log is."""


def ensure_profile(root: Path) -> Path:
    """./profiles.yml from the committed template, unless the analyst already has one."""
    profile = root / "profiles.yml"
    if not profile.exists():
        shutil.copyfile(root / "profiles.yml.example", profile)
    return profile


def dbt_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "UNIFY_PG_PORT": str(settings.pg_port),
            "UNIFY_PG_USER": settings.pg_user,
            "UNIFY_PG_PASSWORD": settings.pg_password,
            "UNIFY_PG_DATABASE": settings.pg_database,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    if settings.external:
        env["UNIFY_PG_HOST"] = settings.pg_host
    env.update(extra or {})
    return env


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def _command(args: list[str], settings: Settings, target_path: Path | None,
             env: dict[str, str] | None) -> tuple[list[str], dict[str, str]]:
    """The dbt command line and its environment. `target_path` keeps artifacts apart (tests, benchmarks);
    dbt's log file then goes to <target_path>/logs/dbt.log."""
    root = settings.root
    ensure_profile(root)
    cmd = [dbt_executable(), *args, "--profiles-dir", str(root), "--project-dir", str(root)]
    extra_env = dict(env or {})
    if target_path is not None:
        extra_env["DBT_TARGET_PATH"] = str(target_path)
        extra_env.setdefault("DBT_LOG_PATH", str(target_path / "logs"))
    run_env = dbt_env(settings, extra_env)
    from unify.pii_key import prepare_local_key  # one PII key per checkout for every local database

    prepare_local_key(args, run_env, settings)
    return cmd, run_env


def run_dbt(
    args: list[str],
    settings: Settings,
    *,
    target_path: Path | None = None,
    capture: bool = False,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """`dbt <args>` at the project root, its output streamed (or captured: `capture`)."""
    cmd, full_env = _command(args, settings, target_path, env)
    proc = dbt_process(cmd, settings.root, full_env, capture=capture)
    if check and proc.returncode != 0:
        tail = ""
        if capture and proc.stdout:
            tail = "\n" + "\n".join(proc.stdout.splitlines()[-40:])
        raise DbtError(f"`dbt {' '.join(args)}` failed with exit code {proc.returncode}{tail}")
    return proc


def dbt_process(cmd: list[str], cwd: Path, env: dict[str, str], *, capture: bool = False) -> subprocess.CompletedProcess:
    """`cmd` (the dbt executable and its arguments, as given) in `cwd` with exactly `env`: the executable,
    or forked from the preloaded server (UNIFY_DBT_PRELOAD=1). Captured output is stdout and stderr in one."""
    if not preloaded():
        return subprocess.run(cmd, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.STDOUT if capture else None)
    with _PreloadedDbt(cmd, cwd, env) as proc:
        lines = []
        for line in proc.stdout:
            if capture:
                lines.append(line)
            else:
                sys.stdout.write(line)
                sys.stdout.flush()
        return subprocess.CompletedProcess(cmd, proc.wait(), "".join(lines) if capture else None)


# ------------------------------------------------------------------------------------ preloaded dbt
# With UNIFY_DBT_PRELOAD=1 (the test suite sets it) each invocation is forked from a server that imported
# dbt once (unify.dbt_preload) instead of starting the `dbt` executable: 3-5 s less per invocation, the same
# process otherwise (its own process, arguments, environment, working directory, exit code; stdout and
# stderr in one stream). Production callers run dbt once or twice per process and keep the executable.

def preloaded() -> bool:
    """Whether dbt runs forked from a preloaded server (UNIFY_DBT_PRELOAD=1)."""
    return os.environ.get("UNIFY_DBT_PRELOAD", "") == "1"


_server: tuple[int, subprocess.Popen, str] | None = None  # (our pid, the server, its socket)
_server_lock = threading.Lock()


def _preload_server() -> str:
    """The socket of this process's preloaded dbt server, started on first use; it stops when we exit."""
    with _server_lock:
        return _start_server()


def _start_server() -> str:
    global _server
    if _server is None or _server[0] != os.getpid() or _server[1].poll() is not None:
        import tempfile

        from unify import dbt_preload

        path = os.path.join(tempfile.mkdtemp(prefix="unify-dbt-"), "server.sock")
        server = subprocess.Popen([sys.executable, "-m", "unify.dbt_preload", path], cwd=project_root(),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # its stderr: ours
        ready = server.stdout.readline().strip()
        if ready != dbt_preload.READY:
            server.kill()
            raise DbtError(f"the preloaded dbt server did not start (its error is above; UNIFY_DBT_PRELOAD=0 runs "
                           f"the dbt executable instead): {ready!r}")
        _server = (os.getpid(), server, path)
    return _server[2]


class _PreloadedDbt:
    """One dbt invocation forked by the preloaded server: `stdout` yields its output lines as they come,
    `wait()` returns its exit code (negative: killed by that signal, as subprocess says it)."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
        import io
        import socket

        from unify.dbt_preload import send_request

        path = _preload_server()
        read_fd, write_fd = os.pipe()
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._conn.connect(path)
            send_request(self._conn, cmd[1:], str(cwd), env, write_fd)
        except OSError:
            os.close(read_fd)
            self._conn.close()
            raise
        finally:
            os.close(write_fd)
        self.returncode: int | None = None
        self.stdout = io.TextIOWrapper(io.FileIO(read_fd, "r"), errors="replace")
        self._replies = self._conn.makefile("r")
        try:
            self.pid = int(self._reply("pid"))
        except BaseException:
            self._close()
            raise

    def _reply(self, kind: str) -> str:
        line = self._replies.readline().split()
        if len(line) != 2 or line[0] != kind:
            raise DbtError(f"the preloaded dbt server answered {line!r} where it should say {kind}")
        return line[1]

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = int(self._reply("exit"))
        return self.returncode

    def __enter__(self) -> "_PreloadedDbt":
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.returncode is None:  # the caller stopped early (an error, Ctrl-C): dbt stops too
                import signal

                try:
                    os.kill(self.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.wait()
                except DbtError:
                    if exc[0] is None:
                        raise
        finally:
            self._close()

    def _close(self) -> None:
        self.stdout.close()
        self._replies.close()
        self._conn.close()


# ------------------------------------------------------------------------------------ quiet runs
# dbt's structured logging (`--log-format json`): one JSON object per event on stdout, with the event's
# name, level and message (info) and its fields (data). Finished nodes carry node_info with a final
# node_status; a node's LogStartLine says how many will run; from EndOfRunSummary on, dbt lists
# each failing node with its message; StatsLine is dbt's closing "Done. PASS=..." line.
QUIET_FLAGS = ("--log-format", "json", "--log-format-file", "debug", "--no-use-colors", "--no-use-colors-file")
_NOT_FINISHED = ("started", "compiling", "executing")


@dataclass
class DbtRun:
    """A quiet dbt run that succeeded: what it did, in dbt's own words, and where its full log is."""

    args: list[str]
    seconds: float
    log_file: Path
    nodes: int = 0  # nodes that finished (models, tests, seeds, snapshots, ...)
    stats: str = ""  # dbt's closing line: "PASS=235 WARN=0 ERROR=0 SKIP=0 NO-OP=2 TOTAL=237"
    warnings: list[str] = field(default_factory=list)  # every warning dbt logged, in full

    def summary(self) -> str:
        return f"dbt {' '.join(self.args)} in {self.seconds:.1f} s" + (f": {self.stats}" if self.stats else "")


def dbt_log_file(target_path: Path) -> Path:
    """dbt's log file for runs with this target folder (see `_command`)."""
    return target_path / "logs" / "dbt.log"


def run_dbt_logged(
    args: list[str],
    settings: Settings,
    *,
    target_path: Path | None = None,
    env: dict[str, str] | None = None,
    progress: bool = False,
    description: str = "dbt",
) -> DbtRun:
    """`dbt <args>` without dbt's log on the terminal: the full log goes to <target>/logs/dbt.log.

    dbt's events are read as they come: `progress` shows a bar (one tick per finished node, out of the
    count dbt announces when the first node starts); warnings are kept in full for the caller. When dbt
    fails, `DbtError` carries every error dbt logged and its end-of-run summary (each failing node and
    its message), and names the log file. Output that is not one of dbt's events (a crash's traceback)
    is shown with the errors, or kept as a warning when dbt succeeds.
    """
    from tqdm import tqdm

    target_path = target_path or dbt_target_path()
    cmd, full_env = _command([*args, *QUIET_FLAGS], settings, target_path, env)
    log_file = dbt_log_file(target_path)
    run = DbtRun(list(args), 0.0, log_file)
    errors: list[str] = []
    other: list[str] = []  # lines that are not dbt events (a traceback, a library's warning)
    started = time.monotonic()
    with tqdm(desc=description, unit="node", file=sys.stderr, disable=not progress, leave=False,
              dynamic_ncols=True) as bar, \
            (_PreloadedDbt(cmd, settings.root, full_env) if preloaded() else
             subprocess.Popen(cmd, cwd=settings.root, env=full_env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)) as proc:
        in_summary = False
        for line in proc.stdout:
            try:
                event = json.loads(line)
                info, data = event["info"], event.get("data") or {}
            except (ValueError, KeyError, TypeError):
                if line.strip():
                    other.append(line.rstrip())
                continue
            name, level, message = info.get("name", ""), info.get("level", ""), info.get("msg", "").rstrip()
            node = data.get("node_info") or {}
            if name == "LogStartLine" and data.get("total") and bar.total != data["total"]:
                bar.total = data["total"]  # "<index> of <total> START ...": the nodes this run will run
                bar.refresh()
            elif node.get("node_status") and node["node_status"] not in _NOT_FINISHED \
                    and not name.startswith("LogHook"):
                run.nodes += 1
                bar.update()
            elif name == "StatsLine":
                run.stats = message.removeprefix("Done.").strip()
            in_summary = in_summary or name == "EndOfRunSummary"
            if level == "warn" and message:
                run.warnings.append(message)
            if (level == "error" or in_summary) and message and message not in errors:
                errors.append(message)
        returncode = proc.wait()
    run.seconds = time.monotonic() - started
    if returncode != 0:
        detail = "".join(f"\n  {line}" for message in [*errors, *other] for line in message.splitlines())
        raise DbtError(f"`dbt {' '.join(args)}` failed with exit code {returncode}; dbt's full log: "
                       f"{log_file}{detail}")
    run.warnings += other
    return run
