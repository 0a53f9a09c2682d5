"""Run dbt for a Redshift target offline and see the SQL it would send, as the quality gate compiles models.

Both helpers run this file as a worker process (`python redshift_access_render.py <request.json>`) in
the gate's offline environment (dummy host in `.invalid`, fake AWS credentials;
unify.checks.redshift_gate.offline_env) with the Redshift adapter replaced so that it never connects:
every statement is recorded with the dbt node that sent it and answered with no rows (as from an empty
cluster), except the queries `answers` names, answered with the rows given (e.g. "the key vault holds
one key"). Transactions are emulated (BEGIN/COMMIT recorded), so whole commands run:

- `render(...)`: `dbt compile --inline` of Jinja snippets in the project's context; each snippet's
  rendered SQL and the statements dbt sent while rendering it (e.g. dbt's grants machinery).
- `invoke(...)`: any dbt command (`run`, `run-operation apply_access`, ...) end to end; every statement
  a real cluster would have received, in order, per node, and whether the command succeeded.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RESULT_PREFIX = "ACCESS-RENDER-RESULT "
OFFLINE_SECRET_ID = "unify/pii-key/offline-render"  # a secret's name: the key itself never reaches dbt


@dataclass(frozen=True)
class Rendered:
    sql: str                # what the snippet rendered to
    executed: list[str]     # statements the adapter was asked to run while rendering it


@dataclass(frozen=True)
class Invoked:
    success: bool
    message: str                   # dbt's exception or the failing nodes' messages; empty on success
    statements: list[dict]         # {"node": connection name, "sql": statement}, in the order sent


@dataclass(frozen=True)
class Answer:
    """Rows for the offline adapter to return when a statement matches `pattern` (re.search, on the
    statement with whitespace collapsed). In string values, {0}, {1}, ... are the match and its groups,
    {database} the target's database."""

    pattern: str
    columns: list[str]
    rows: list[list]


class RenderError(RuntimeError):
    """dbt could not render a snippet for Redshift; the message carries dbt's output."""


def vault_answers(secret_id: str = OFFLINE_SECRET_ID) -> list[Answer]:
    """Answers that make the key vault look installed from `secret_id` (macros/pii/ensure_pii_key.sql)."""
    return [
        Answer(r"from information_schema\.tables where table_schema ilike '(\w+_pii)' and table_type = 'BASE TABLE'",
               ["database", "name", "schema", "type"], [["{database}", "pii_hash_key", "{1}", "table"]]),
        Answer(r"select count\(\*\), max\(key_source\) from \S*pii_hash_key", ["count", "max"],
               [[1, f"secretsmanager:{secret_id} version offline-1"]]),
    ]


def _run_worker(project_dir: Path, work_dir: Path, request: dict, target: str,
                env: dict[str, str | None] | None) -> dict:
    from unify.checks.redshift_gate import offline_env

    template = project_dir / "profiles.yml.example"
    profiles = work_dir / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, profiles / "profiles.yml")
    path = work_dir / "request.json"
    path.write_text(json.dumps({"project_dir": str(project_dir), "profiles_dir": str(profiles),
                                "work_dir": str(work_dir), "target": target, **request}))
    run_env = dict(offline_env(template), DBT_LOG_PATH=str(work_dir / "logs"))
    run_env["UNIFY_PII_KEY_SECRET_ID"] = OFFLINE_SECRET_ID
    for name, value in (env or {}).items():
        if value is None:
            run_env.pop(name, None)
        else:
            run_env[name] = value
    proc = subprocess.run([sys.executable, __file__, str(path)], cwd=project_dir, env=run_env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RenderError(f"offline Redshift run failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def render(project_dir: Path, work_dir: Path, snippets: dict[str, str], target: str = "prod",
           env: dict[str, str | None] | None = None) -> dict[str, Rendered]:
    """Render every snippet (Jinja in the project's context) for the Redshift `target`, offline. `env`
    overrides the environment (None removes a variable); UNIFY_PII_KEY_SECRET_ID defaults to a dummy
    secret name, as the non-local targets require one."""
    data = _run_worker(project_dir, work_dir, {"mode": "snippets", "snippets": snippets}, target, env)
    return {name: Rendered(**value) for name, value in data.items()}


def invoke(project_dir: Path, work_dir: Path, args: list[str], target: str = "prod",
           env: dict[str, str | None] | None = None, answers: list[Answer] = (),
           built: bool = False) -> Invoked:
    """Run `dbt <args> --target <target>` offline end to end; every statement it sent. `built`: the
    cluster answers that every model of the project exists (dbt's relation listing), as after a build."""
    request = {"mode": "invoke", "args": args, "built": built,
               "answers": [{"pattern": a.pattern, "columns": a.columns, "rows": a.rows} for a in answers]}
    return Invoked(**_run_worker(project_dir, work_dir, request, target, env))


# ----------------------------------------------------------------------------------------- worker


def _emulate_offline_cluster(answers: list[dict], recorded: list[dict]) -> None:
    """Replace the Redshift connection manager: record every statement, emulate transactions, answer
    the `answers` patterns, refuse to connect."""
    from dbt.adapters.contracts.connection import AdapterResponse
    from dbt.adapters.redshift.connections import RedshiftConnectionManager
    from dbt_common.clients.agate_helper import empty_table, table_from_rows

    from unify.checks import offline_compile

    offline_compile.answer_queries_offline()  # open() refuses; replaced below: execute, add_query

    class Cursor:
        rowcount = 0
        description = None

        def fetchall(self):
            return []

    def add_query(self, sql, auto_begin=True, bindings=None, abridge_sql_log=False, **kwargs):
        connection = self.get_thread_connection()
        if auto_begin and not connection.transaction_open:
            self.begin()
        recorded.append({"node": connection.name, "sql": " ".join(str(sql).split())})
        return connection, Cursor()

    def execute(self, sql, auto_begin=False, fetch=False, limit=None):
        self.add_query(sql, auto_begin)
        flat = recorded[-1]["sql"]
        for answer in answers:
            match = re.search(answer["pattern"], flat)
            if match:
                rows = [[value.format(match.group(0), *match.groups(), database=self.profile.credentials.database)
                         if isinstance(value, str) else value for value in row] for row in answer["rows"]]
                return AdapterResponse(_message="offline", rows_affected=len(rows)), \
                    table_from_rows(rows, answer["columns"])
        return AdapterResponse(_message="offline: not run", rows_affected=0), empty_table()

    RedshiftConnectionManager.add_query = add_query
    RedshiftConnectionManager.execute = execute


def _columns_from_contracts(manifest) -> None:
    """A model's columns, as a cluster would describe its query (contract enforcement asks), come from
    its yml: offline there is no query result, and the gate's compile already checks the SQL."""
    from dbt.adapters.base.meta import available
    from dbt.adapters.redshift.impl import RedshiftAdapter

    def get_column_schema_from_query(self, sql):
        node = manifest.nodes.get(self.connections.get_thread_connection().name)
        columns = node.columns.values() if node is not None else []
        return [self.Column.create(c.name, c.data_type) for c in columns if c.data_type]

    RedshiftAdapter.get_column_schema_from_query = available.parse(lambda *a, **k: [])(get_column_schema_from_query)


def _built_models(manifest) -> list[dict]:
    """Answers to dbt's relation listing (information_schema.tables of one schema): the project's models
    built there, as tables or views."""
    answers = []
    schemas: dict[str, list] = {}
    for node in manifest.nodes.values():
        if node.resource_type == "model" and node.package_name == manifest.metadata.project_name:
            kind = "view" if node.config.materialized == "view" else "table"
            schemas.setdefault(node.schema, []).append([node.database, node.alias, node.schema, kind])
    for schema, rows in schemas.items():
        answers.append({"pattern": rf"from information_schema\.tables where table_schema ilike '{schema}' ",
                        "columns": ["database", "name", "schema", "type"], "rows": rows})
    return answers


def _worker(request_path: str) -> int:
    from dbt.cli.main import dbtRunner

    request = json.loads(Path(request_path).read_text())
    recorded: list[dict] = []
    _emulate_offline_cluster(request.get("answers", []), recorded)
    common = ["--project-dir", request["project_dir"], "--profiles-dir", request["profiles_dir"],
              "--target", request["target"], "--target-path", str(Path(request["work_dir"]) / "target")]
    if request["mode"] == "invoke":
        parsed = dbtRunner().invoke(["--quiet", "parse", *common])
        if not parsed.success:
            print(RESULT_PREFIX + json.dumps({"success": False, "message": str(parsed.exception),
                                              "statements": recorded}), flush=True)
            return 0
        _columns_from_contracts(parsed.result)
        if request.get("built"):
            request["answers"].extend(_built_models(parsed.result))
        recorded.clear()
        command, *rest = request["args"]
        res = dbtRunner(manifest=parsed.result).invoke(
            [command, *common, "--no-populate-cache", "--threads", "1", *rest])
        messages = [str(res.exception)] if res.exception else []
        for item in getattr(res.result, "results", None) or []:
            if str(getattr(item, "status", "")) in ("error", "fail", "runtime error"):
                messages.append(f"{item.node.name}: {item.message}")
        print(RESULT_PREFIX + json.dumps({"success": bool(res.success), "message": "\n".join(messages),
                                          "statements": recorded}), flush=True)
        return 0
    parsed = dbtRunner().invoke(["--quiet", "parse", *common])
    if not parsed.success:
        print(f"dbt parse failed: {parsed.exception}")
        return 2
    runner = dbtRunner(manifest=parsed.result)
    results = {}
    for name, snippet in request["snippets"].items():
        recorded.clear()
        res = runner.invoke(["--quiet", "compile", *common, "--no-populate-cache", "--inline", snippet])
        if not res.success:
            print(f"snippet {name!r} failed: {res.exception}")
            for item in getattr(res.result, "results", None) or []:
                print(item.message)
            return 2
        compiled = res.result.results[0].node.compiled_code
        results[name] = {"sql": compiled,
                         "executed": [q["sql"] for q in recorded if q["sql"] not in ("BEGIN", "COMMIT")]}
    print(RESULT_PREFIX + json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1]))
