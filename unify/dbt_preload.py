"""dbt imported once, forked for every invocation (`unify.dbt_runner` with UNIFY_DBT_PRELOAD=1).

A `dbt` process spends its first 3-4 s importing dbt and its adapters, and 1-2 s more building the JSON
schemas it validates parsed nodes against, before any work. A caller that runs dbt dozens of times (the
test suite: ~150 invocations) pays that every time. With UNIFY_DBT_PRELOAD=1 the caller starts this
module once as a server (`python -m unify.dbt_preload <socket>`): it does that work (`warm`) and then forks
one process per invocation, which behaves as the `dbt` executable would: its own process, the caller's
arguments, environment (replaced whole), working directory, output (stdout and stderr into the pipe the
caller passed) and exit code.

Only pure per-class caches are warmed (dbt's `json_schema` is an lru_cache of each contract class); nothing
of an invocation (flags, adapters, event loggers, connections) exists in the server, so nothing leaks from
one invocation into the next. The server stops when its caller closes its stdin (the caller exited).

Protocol, per invocation (one connection to the server's UNIX socket): the caller sends a 4-byte length and
a JSON request {"args", "cwd", "env"} with the write end of its output pipe attached (SCM_RIGHTS); the
server forks a supervisor, which forks dbt, answers `pid <n>` and, when dbt ends, `exit <code>` (negative:
killed by that signal, as subprocess reports it).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import struct
import sys

READY = "ready"


# The contract classes whose JSON schema a dbt parse of this project builds (found by recording dbt_common's
# build_json_schema during `dbt parse`, dbt 1.11): ~2.5 s of every full parse. A class dbt renames is skipped.
SCHEMAS = (
    "dbt.contracts.project.ProjectFlags", "dbt.adapters.postgres.connections.PostgresCredentials",
    "dbt.contracts.project.ProfileConfig", "dbt.contracts.project.Project", "dbt.contracts.project.PackageConfig",
    "dbt.contracts.selection.SelectorFile", "dbt.contracts.project.Configuration",
    "dbt.artifacts.resources.v1.model.ModelConfig", "dbt.contracts.graph.nodes.ModelNode",
    "dbt.artifacts.resources.v1.components.Contract", "dbt.artifacts.resources.v1.config.NodeConfig",
    "dbt.contracts.graph.nodes.AnalysisNode", "dbt.artifacts.resources.v1.config.TestConfig",
    "dbt.contracts.graph.nodes.SingularTestNode", "dbt.artifacts.resources.v1.seed.SeedConfig",
    "dbt.contracts.graph.nodes.SeedNode", "dbt.contracts.graph.nodes.HookNode",
    "dbt.contracts.graph.unparsed.UnparsedNodeUpdate", "dbt.contracts.graph.nodes.GenericTestNode",
    "dbt.contracts.graph.unparsed.UnparsedMacroUpdate", "dbt.contracts.graph.unparsed.UnparsedSingularTestUpdate",
    "dbt.artifacts.resources.v1.snapshot.SnapshotConfig", "dbt.contracts.graph.nodes.SnapshotNode",
    "dbt.contracts.graph.unparsed.UnparsedModelUpdate", "dbt.contracts.graph.unparsed.UnparsedUnitTest",
    "dbt.artifacts.resources.v1.unit_test_definition.UnitTestConfig", "dbt.contracts.graph.unparsed.UnparsedExposure",
    "dbt.artifacts.resources.v1.exposure.ExposureConfig", "dbt.contracts.graph.unparsed.UnparsedSourceDefinition",
    "dbt.artifacts.resources.v1.source_definition.SourceConfig",
    "dbt.adapters.redshift.connections.RedshiftCredentials",  # the Redshift targets (compiled offline in tests)
)


def warm() -> None:
    """Import dbt and its adapters, and build the JSON schemas a parse validates against: pure
    per-class caches (dbt's `json_schema` is an lru_cache), done once in the server."""
    import importlib

    import dbt.adapters.postgres  # noqa: F401  (the local warehouse's adapter)
    import dbt.cli.main  # noqa: F401

    try:
        import dbt.adapters.redshift  # noqa: F401  (0.4 s: the Redshift targets)
    except ImportError:
        pass

    for name in SCHEMAS:
        module, _, cls = name.rpartition(".")
        try:
            getattr(importlib.import_module(module), cls).json_schema()
        except (ImportError, AttributeError):
            pass


def send_request(conn: socket.socket, args: list[str], cwd: str, env: dict[str, str], output_fd: int) -> None:
    payload = json.dumps({"args": args, "cwd": cwd, "env": env}).encode()
    socket.send_fds(conn, [struct.pack("!I", len(payload)) + payload], [output_fd])


def _receive_request(conn: socket.socket) -> tuple[dict, int]:
    data, fds, _, _ = socket.recv_fds(conn, 65536, 1)
    if len(data) < 4 or len(fds) != 1:
        raise ValueError("a request without its length or its output pipe")
    size = struct.unpack("!I", data[:4])[0]
    data = data[4:]
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ValueError("the request ended early")
        data += chunk
    return json.loads(data), fds[0]


def _run_dbt(request: dict, output_fd: int) -> None:
    """The forked dbt process: never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(output_fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["dbt", *request["args"]]
        from dbt.cli.main import cli

        try:
            cli()
            code = 0
        except SystemExit as done:  # how dbt ends: its exit code, as the interpreter turns it into one
            if done.code is None or isinstance(done.code, int):
                code = done.code or 0
            else:
                print(done.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001  (as the interpreter would: the traceback on stderr, exit 1)
        import traceback

        traceback.print_exc()
    finally:
        import atexit

        atexit._run_exitfuncs()  # what the interpreter's exit does (logging, multiprocessing); os._exit skips it
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def _supervise(conn: socket.socket) -> None:
    """A forked supervisor of one invocation: forks dbt, reports its pid and exit code; never returns."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        request, output_fd = _receive_request(conn)
        pid = os.fork()
        if pid == 0:
            conn.close()
            _run_dbt(request, output_fd)
        os.close(output_fd)
        conn.sendall(f"pid {pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
    finally:
        os._exit(0)


def serve(path: str) -> None:
    """Warm up, listen on the UNIX socket `path`, fork a supervisor per connection; stop at EOF on stdin."""
    warm()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    print(READY, flush=True)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is sys.stdin:
                if not sys.stdin.buffer.read1(4096):  # the caller is gone
                    listener.close()
                    os.unlink(path)
                    os.rmdir(os.path.dirname(path))  # the caller's private folder for the socket
                    return
                continue
            conn, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                _supervise(conn)
            conn.close()


if __name__ == "__main__":
    serve(sys.argv[1])
