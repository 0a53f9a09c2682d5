"""Slim CI on the local warehouse: `unify ci slim` against the database the cycle tests built ("production",
schema analytics) and the manifest of its last build ("the production manifest"), from a copy of the
project in which a pull request changed one staging model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import boto3
import pytest
from support import pinned_env, query

from unify.cli import main
from unify.slim_ci import SlimCiError, check_ci_schema

ROOT = Path(__file__).resolve().parents[2]
CHANGED = "model.unify.stg_azureware__warehouses"
PROJECT_FILES = ("dbt_project.yml", "selectors.yml", "models", "macros", "seeds", "snapshots", "tests", "analyses")


def _project_copy(dest: Path) -> Path:
    dest.mkdir()
    for name in PROJECT_FILES:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, dest / name)
    shutil.copy(ROOT / "profiles.yml.example", dest / "profiles.yml")
    return dest


def _edit(project: Path, relative: str, old: str, new: str) -> None:
    path = project / relative
    text = path.read_text()
    assert old in text, f"{relative} no longer contains {old!r}: update the test's change"
    path.write_text(text.replace(old, new, 1))


def _descendants(manifest: dict, unique_id: str) -> set[str]:
    seen, todo = set(), [unique_id]
    while todo:
        for child in manifest["child_map"].get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _ci_schemas(cycles, schema: str) -> list[str]:
    return [row[0] for row in query(cycles.settings, "select nspname from pg_namespace where nspname = %s "
                                                     "or nspname like %s", (schema, schema + "\\_%"))]


def _slim(cycles, project: Path, state: Path, schema: str, target: Path) -> int:
    with pinned_env(UNIFY_PG_DATABASE=cycles.settings.pg_database):
        return main(["ci", "slim", "--state", str(state), "--schema", schema, "--project-dir", str(project),
                     "--target-path", str(target)])


@pytest.fixture(scope="module")
def production_state(cycles, tmp_path_factory) -> Path:
    state = tmp_path_factory.mktemp("state")
    shutil.copy(cycles.steps["F"].target_path / "manifest.json", state / "manifest.json")
    return state


def test_a_changed_staging_model_builds_only_itself_and_its_children(cycles, production_state, tmp_path, capsys):
    project = _project_copy(tmp_path / "project")
    _edit(project, "models/staging/azureware/stg_azureware__warehouses.sql",
          "        name as warehouse_name,", "        trim(name) as warehouse_name,")
    target = tmp_path / "target"
    production = json.loads((production_state / "manifest.json").read_text())

    assert _slim(cycles, project, production_state, "ci_pr_7", target) == 0
    out = capsys.readouterr().out
    results = {r["unique_id"]: r for r in json.loads((target / "run_results.json").read_text())["results"]}
    built = {uid for uid, r in results.items() if uid.split(".")[0] in ("model", "snapshot", "seed")}
    expected = {uid for uid in {CHANGED} | _descendants(production, CHANGED)
                if uid.split(".")[0] in ("model", "snapshot", "seed")}
    assert built == expected and len(built) >= 4  # the staging model, its snapshot, dim_warehouse, reports ...
    assert all(results[uid]["status"] == "success" for uid in built)
    assert "model.unify.stg_azureware__orders" not in results and "model.unify.fct_orders" not in results
    tests = [uid for uid in results if uid.startswith("test.")]
    assert tests and all(results[uid]["status"] == "pass" for uid in tests)

    # built into the PR's schemas, reading unchanged parents from production (--defer)
    assert results[CHANGED]["relation_name"] == '"{}"."ci_pr_7_staging"."stg_azureware__warehouses"'.format(
        cycles.settings.pg_database)
    dim = results["model.unify.dim_warehouse"]["compiled_code"]
    assert '"ci_pr_7_staging"."stg_azureware__warehouses"' in dim
    assert '"analytics_seeds"."warehouse_cost_rates"' in dim  # deferred: not rebuilt in ci_pr_7_seeds

    # and the schemas are gone afterwards; production is untouched
    assert _ci_schemas(cycles, "ci_pr_7") == []
    dropped = re.search(r"dropped (\d+) schema\(s\): (.*)", out)
    assert dropped, out
    names = dropped.group(2).strip().split(", ")
    assert int(dropped.group(1)) == len(names) and all(n.startswith("ci_pr_7_") for n in names)
    assert {"ci_pr_7_staging", "ci_pr_7_intermediate", "ci_pr_7_marts", "ci_pr_7_reporting"} <= set(names)
    assert query(cycles.settings, "select count(*) from analytics_staging.stg_azureware__warehouses")[0][0] > 0


def test_a_failing_build_still_drops_the_schemas(cycles, production_state, tmp_path, capsys):
    project = _project_copy(tmp_path / "project")
    _edit(project, "models/staging/azureware/stg_azureware__warehouses.sql",
          "        name as warehouse_name,", "        trim(name) as warehouse_name,")
    _edit(project, "models/marts/operations/dim_warehouse.sql", "from warehouses\n", "from warehouses_missing\n")
    target = tmp_path / "target"

    assert _slim(cycles, project, production_state, "ci_pr_8", target) == 1
    results = {r["unique_id"]: r["status"] for r in json.loads((target / "run_results.json").read_text())["results"]}
    assert results[CHANGED] == "success"            # ci_pr_8_staging existed and held it
    # the breakage fails the build at dim_warehouse: the model errors, or its unit test (which runs the
    # same SQL first) errors and the model is skipped; it never succeeds
    dim_warehouse = {k: v for k, v in results.items()
                     if k == "model.unify.dim_warehouse" or k.startswith("unit_test.unify.dim_warehouse.")}
    assert results["model.unify.dim_warehouse"] in ("error", "skipped") and "error" in dim_warehouse.values()
    assert _ci_schemas(cycles, "ci_pr_8") == []
    assert "dropped" in capsys.readouterr().out


def test_kept_schemas_outlive_the_build_until_ci_drop(cycles, production_state, tmp_path, capsys):
    """On Redshift the workflow keeps the run's schemas for the privileged step, then drops them in a step
    of its own (`unify ci slim --keep-schemas`, `unify ci drop`). Nothing changed here: the run still makes
    its key vault (ci_pr_10_pii), which must go too."""
    with pinned_env(UNIFY_PG_DATABASE=cycles.settings.pg_database):
        assert main(["ci", "slim", "--state", str(production_state), "--schema", "ci_pr_10", "--project-dir",
                     str(ROOT), "--target-path", str(tmp_path / "target"), "--keep-schemas"]) == 0
        assert "kept ci_pr_10" in capsys.readouterr().out
        kept = _ci_schemas(cycles, "ci_pr_10")
        assert "ci_pr_10_pii" in kept
        assert main(["ci", "drop", "--schema", "ci_pr_10"]) == 0
        assert f"dropped {len(kept)} schema(s)" in capsys.readouterr().out
        assert _ci_schemas(cycles, "ci_pr_10") == []
        assert main(["ci", "drop", "--schema", "analytics"]) == 2  # never a schema that is not a CI run's
        assert "must match" in capsys.readouterr().err


def test_bad_input_is_refused_before_anything_is_built(cycles, production_state, tmp_path, capsys):
    production = json.loads((production_state / "manifest.json").read_text())
    for schema, reason in (("analytics", "must match"), ("ci_pr_7; drop", "must match")):
        with pytest.raises(SlimCiError, match=reason):
            check_ci_schema(schema, production)
    clash = {"nodes": {"m": {"schema": "ci_main_marts"}}}
    with pytest.raises(SlimCiError, match="production schema"):
        check_ci_schema("ci_main", clash)
    assert _slim(cycles, ROOT, tmp_path, "ci_pr_9", tmp_path / "t") == 2  # no manifest in the state folder
    assert "no production manifest" in capsys.readouterr().err


def test_the_production_manifest_travels_through_s3(cycles, s3_bucket, tmp_path, capsys):
    prefix = f"s3://{s3_bucket}/dbt/prod"
    assert main(["ci", "fetch-state", "--from", prefix, "--to", str(tmp_path / "none")]) == 2
    assert "no production manifest published yet" in capsys.readouterr().err
    source = cycles.steps["F"].target_path
    assert main(["ci", "publish-state", "--target-path", str(source), "--to", prefix]) == 0
    head = boto3.client("s3").head_object(Bucket=s3_bucket, Key="dbt/prod/manifest.json")
    invocation = json.loads((source / "manifest.json").read_text())["metadata"]["invocation_id"]
    assert head["Metadata"]["dbt-invocation-id"] == invocation
    assert main(["ci", "fetch-state", "--from", prefix + "/", "--to", str(tmp_path / "state")]) == 0
    assert (tmp_path / "state" / "manifest.json").read_bytes() == (source / "manifest.json").read_bytes()
