"""Render the access-control macros for a Redshift target offline, as the quality gate compiles models.

`render(project_dir, work_dir, snippets)` runs this file as a worker process (`python
redshift_access_render.py <request.json>`): the Redshift adapter answers every query with no rows and
refuses to connect (unify.checks.offline_compile.answer_queries_offline, the gate's own switch), the
environment is the gate's offline one (dummy host in `.invalid`, fake AWS credentials), and
`dbt compile --inline` renders each snippet for the profile template's `prod` target. It returns
each snippet's rendered SQL and the statements dbt sent to the (offline) adapter while rendering it,
e.g. what dbt's grants machinery executes through `call statement`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RESULT_PREFIX = "ACCESS-RENDER-RESULT "


@dataclass(frozen=True)
class Rendered:
    sql: str                # what the snippet rendered to
    executed: list[str]     # statements the adapter was asked to run while rendering


class RenderError(RuntimeError):
    """dbt could not render a snippet for Redshift; the message carries dbt's output."""


def render(project_dir: Path, work_dir: Path, snippets: dict[str, str], target: str = "prod") -> dict[str, Rendered]:
    """Render every snippet (Jinja in the project's context) for the Redshift `target`, offline."""
    from unify.checks.redshift_gate import offline_env

    template = project_dir / "profiles.yml.example"
    profiles = work_dir / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, profiles / "profiles.yml")
    request = work_dir / "request.json"
    request.write_text(json.dumps({"project_dir": str(project_dir), "profiles_dir": str(profiles),
                                   "work_dir": str(work_dir), "target": target, "snippets": snippets}))
    env = dict(offline_env(template), DBT_LOG_PATH=str(work_dir / "logs"))
    proc = subprocess.run([sys.executable, __file__, str(request)], cwd=project_dir, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RenderError(f"offline Redshift render failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}")
    data = json.loads(lines[-1][len(RESULT_PREFIX):])
    return {name: Rendered(**value) for name, value in data.items()}


def _worker(request_path: str) -> int:
    from dbt.cli.main import dbtRunner

    from unify.checks import offline_compile

    request = json.loads(Path(request_path).read_text())
    offline_compile.answer_queries_offline()
    common = ["--project-dir", request["project_dir"], "--profiles-dir", request["profiles_dir"],
              "--target", request["target"], "--target-path", str(Path(request["work_dir"]) / "target")]
    parsed = dbtRunner().invoke(["--quiet", "parse", *common])
    if not parsed.success:
        print(f"dbt parse failed: {parsed.exception}")
        return 2
    runner = dbtRunner(manifest=parsed.result)
    results = {}
    for name, snippet in request["snippets"].items():
        offline_compile._QUERIES.clear()
        res = runner.invoke(["--quiet", "compile", *common, "--no-populate-cache", "--inline", snippet])
        if not res.success:
            print(f"snippet {name!r} failed: {res.exception}")
            for item in getattr(res.result, "results", None) or []:
                print(item.message)
            return 2
        compiled = res.result.results[0].node.compiled_code
        executed = [q["sql"] for q in offline_compile._QUERIES]
        results[name] = {"sql": compiled, "executed": executed}
    print(RESULT_PREFIX + json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1]))
