"""Worker of the Redshift gate: `dbt compile` for Redshift targets in one process, no connection.

Run as `python -m unify.checks.offline_compile <request.json>` by `redshift_gate.run_gate`, with
the offline environment (dummy settings) the gate builds: a separate process, so the dummy
environment and dbt's global state never leak into the caller. dbt's programmatic entry point
(dbtRunner) runs every step here, which costs one interpreter start and one parse per target
instead of one per step: per target it parses once, compiles every node with is_incremental()
false, and, when the project has incremental models, compiles those again with the parsed
manifest and is_incremental() true. Each compile writes its manifest.json (with compiled_code) to
its own target path; the worker prints a JSON summary on its last stdout line.

No connection is ever opened: the Redshift connection manager is replaced in this process so that
`open` refuses and every query a macro runs while compiling (run_query, `call statement`, e.g.
dbt.date_spine's get_intervals_between) gets an empty result, as from an empty warehouse; each such
query is recorded with the node that ran it and reported by the gate, since SQL that depends on a
query's answer may differ from production.

Exit codes: 0 compiled, 2 dbt failed (dbt's messages are on stdout).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

GATE_VAR = "unify_gate_is_incremental"
SUMMARY_PREFIX = "OFFLINE-COMPILE-SUMMARY "


@dataclass
class TargetCompile:
    target: str
    manifest: str
    incremental_manifest: str | None = None
    incremental_models: list[str] = field(default_factory=list)
    has_override: bool = False
    offline_queries: list[dict] = field(default_factory=list)


class OfflineConnectionError(RuntimeError):
    """Something tried to open a Redshift connection inside the offline compile."""


_QUERIES: list[dict] = []


def answer_queries_offline() -> None:
    """Make the Redshift adapter answer every query with no rows and refuse to connect."""
    from dbt.adapters.contracts.connection import AdapterResponse
    from dbt.adapters.redshift.connections import RedshiftConnectionManager
    from dbt_common.clients.agate_helper import empty_table

    def execute(self, sql, auto_begin=False, fetch=False, limit=None):
        connection = self.get_if_exists()
        _QUERIES.append({"node": connection.name if connection else None,
                         "sql": " ".join(str(sql).split())[:300]})
        return AdapterResponse(_message="offline gate: not run", rows_affected=0), empty_table()

    def refuse(*args, **kwargs):
        raise OfflineConnectionError("the offline Redshift gate opens no connection")

    RedshiftConnectionManager.execute = execute
    RedshiftConnectionManager.add_query = refuse
    RedshiftConnectionManager.open = classmethod(refuse)


def _failure(step: str, target: str, res) -> str:
    lines = [f"dbt {step} for Redshift target {target!r} failed"]
    if res.exception is not None:
        lines.append(str(res.exception))
    results = getattr(res.result, "results", None) or []
    for item in results:
        if str(getattr(item, "status", "")) in ("error", "fail"):
            node = getattr(item, "node", None)
            lines.append(f"{getattr(node, 'original_file_path', '?')}: {item.message}")
    return "\n".join(lines)


def compile_target(project_dir: Path, profiles_dir: Path, target: str, work_dir: Path) -> TargetCompile:
    from dbt.cli.main import dbtRunner

    _QUERIES.clear()
    common = ["--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir), "--target", target]
    base_path = work_dir / target
    # A full parse every time: dbt's partial parsing, after a macro file was deleted, once produced a
    # manifest without the snapshots and a fifth of the tests, and the gate checked 202 nodes of 227
    # without noticing. A gate must see every node; the full parse costs a few seconds.
    parse = dbtRunner().invoke(
        ["--quiet", "--no-use-colors", "--no-partial-parse", "parse", *common, "--target-path", str(base_path),
         "--vars", json.dumps({GATE_VAR: False})]
    )
    if not parse.success:
        raise RuntimeError(_failure("parse", target, parse))
    manifest = parse.result
    project = manifest.metadata.project_name
    outcome = TargetCompile(target=target, manifest=str(base_path / "manifest.json"))
    outcome.incremental_models = sorted(
        node.unique_id for node in manifest.nodes.values()
        if node.resource_type == "model" and node.package_name == project
        and node.config.materialized == "incremental"
    )
    outcome.has_override = f"macro.{project}.is_incremental" in manifest.macros
    if outcome.incremental_models and not outcome.has_override:
        return outcome  # the gate refuses: incremental branches cannot be forced without the override

    runner = dbtRunner(manifest=manifest)  # both compiles reuse this parse
    compiled = runner.invoke(
        ["--no-use-colors", "--log-level", "warn", "compile", *common, "--target-path", str(base_path),
         "--no-populate-cache", "--vars", json.dumps({GATE_VAR: False}),
         "--exclude", "resource_type:unit_test"]  # unit tests need column types from the warehouse
    )
    if not compiled.success:
        raise RuntimeError(_failure("compile", target, compiled))
    if outcome.incremental_models:
        forced_path = work_dir / f"{target}-incremental"
        forced = runner.invoke(
            ["--no-use-colors", "--log-level", "warn", "compile", *common, "--target-path", str(forced_path),
             "--no-populate-cache", "--vars", json.dumps({GATE_VAR: True}),
             "--select", "config.materialized:incremental", "--indirect-selection", "empty"]
        )
        if not forced.success:
            raise RuntimeError(_failure("compile (is_incremental() true)", target, forced))
        outcome.incremental_manifest = str(forced_path / "manifest.json")
    outcome.offline_queries = list(_QUERIES)
    return outcome


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text())
    answer_queries_offline()
    outcomes = []
    for target in request["targets"]:
        print(f"compiling for Redshift target {target}", file=sys.stderr, flush=True)
        try:
            outcomes.append(
                compile_target(Path(request["project_dir"]), Path(request["profiles_dir"]), target,
                               Path(request["work_dir"]))
            )
        except RuntimeError as err:
            print(str(err), flush=True)
            return 2
    print(SUMMARY_PREFIX + json.dumps([asdict(o) for o in outcomes]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
