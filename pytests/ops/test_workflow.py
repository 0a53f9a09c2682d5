"""The GitHub Actions workflow, linted offline: it parses, AWS access is OIDC (id-token: write, a role to
assume, no stored key, no secret in any env: a secret's *name* comes from vars.*), the pull-request job
runs the gate, lint, the PR's PII key, `unify ci slim` into ci_pr_<number>, the privileged step as CI's
security admin and the schema drop in that order, and a merge deploys before it publishes the production
manifest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from unify.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.fixture(scope="module")
def workflow() -> dict:
    assert [p.name for p in WORKFLOWS] == ["ci.yml"]
    data = yaml.safe_load(WORKFLOWS[0].read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def _runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def _uses(job: dict, action: str) -> list[dict]:
    return [step for step in job["steps"] if step.get("uses", "").startswith(action + "@")]


def test_triggers_permissions_and_no_stored_credentials(workflow):
    assert set(workflow["on"]) == {"pull_request", "push"}
    assert workflow["permissions"] == {"contents": "read", "id-token": "write"}
    text = WORKFLOWS[0].read_text()
    assert "secrets." not in text  # nothing stored: roles through OIDC, names through vars.*
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"):
        assert forbidden not in text
    for name, job in workflow["jobs"].items():
        for env in [workflow.get("env", {}), job.get("env", {}), *[s.get("env", {}) for s in job["steps"]]]:
            for key, value in env.items():
                if key.endswith("_SECRET_ID"):  # which Secrets Manager secret, never its value
                    assert re.fullmatch(r"\$\{\{ vars\.\w+ \}\}", value), (name, key, value)
                    continue
                assert not re.search(r"(?i)password|secret|token|key_id", key), (name, key)
                assert "secrets." not in str(value), (name, key)
        for step in _uses(job, "aws-actions/configure-aws-credentials"):
            assert set(step["with"]) == {"role-to-assume", "role-session-name", "aws-region"}
            assert step["with"]["role-to-assume"].startswith("${{ vars.")
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.match(r"^[\w-]+/[\w-]+@v\d+$", step["uses"]), step["uses"]  # pinned major versions


def _step(job: dict, marker: str) -> int:
    found = [i for i, step in enumerate(job["steps"]) if marker in step.get("run", "")
             or step.get("uses", "").startswith(marker)]
    assert len(found) == 1, f"{marker}: {len(found)} steps"
    return found[0]


def test_pull_requests_run_gate_lint_key_slim_ci_privileged_step_and_drop_in_order(workflow):
    job = workflow["jobs"]["slim-ci"]
    assert job["if"] == "github.event_name == 'pull_request'"
    assert job["env"]["UNIFY_SCHEMA"] == "ci_pr_${{ github.event.pull_request.number }}"
    assert job["env"]["DBT_TARGET"] == "ci"
    assert job["env"]["UNIFY_PII_KEY_SECRET_ID"] == "${{ vars.PII_KEY_SECRET_ID }}"
    order = ["make check", "make lint", "aws-actions/configure-aws-credentials", "unify ci fetch-state",
             "unify access install-pii-key --target ci", "unify ci slim", "unify access apply --target ci_admin",
             "unify ci drop"]
    positions = [_step(job, marker) for marker in order]
    assert positions == sorted(positions), dict(zip(order, positions))
    steps = job["steps"]
    slim = steps[_step(job, "unify ci slim")]["run"]
    assert '--schema "$UNIFY_SCHEMA"' in slim and "--state state" in slim and "--target ci" in slim
    assert "--keep-schemas" in slim  # the privileged step runs on them; the last step drops them
    apply = steps[_step(job, "unify access apply")]
    assert apply["env"] == {"UNIFY_ACCESS_ADMIN_ROLE_ARN": "${{ vars.ACCESS_ADMIN_ROLE_ARN }}"}  # not the build's
    assert "UNIFY_ACCESS_ADMIN_ROLE_ARN" not in job["env"] and "UNIFY_ACCESS_ADMIN_ROLE_ARN" not in workflow["env"]
    drop = steps[_step(job, "unify ci drop")]
    assert '--schema "$UNIFY_SCHEMA"' in drop["run"] and "--target ci" in drop["run"]
    credentials = steps[_step(job, "aws-actions/configure-aws-credentials")]
    assert drop["if"] == "${{ always() && steps.%s.outcome == 'success' }}" % credentials["id"]
    assert all("if" not in steps[i] for i in positions[:-1])  # a failure stops the rest, never the drop
    # the commands the workflow runs exist with these options
    parser = build_parser()
    args = parser.parse_args(["ci", "slim", "--state", "state", "--schema", "ci_pr_1", "--target", "ci",
                              "--keep-schemas"])
    assert args.func.__name__ == "run_slim" and args.keep_schemas
    assert parser.parse_args(["ci", "drop", "--schema", "ci_pr_1", "--target", "ci"]).func.__name__ == "run_drop"
    assert parser.parse_args(["access", "install-pii-key", "--target", "ci"]).func.__name__ == "run"
    assert parser.parse_args(["access", "apply", "--target", "ci_admin"]).action == "apply"
    parser.parse_args(["ci", "fetch-state", "--from", "s3://b/dbt/prod", "--to", "state"])
    parser.parse_args(["ci", "publish-state", "--target-path", "target/prod", "--to", "s3://b/dbt/prod"])


def test_the_profile_has_an_admin_target_for_each_redshift_target():
    """`<target>_admin`: the same warehouse and schema as the build, the access admin's identity."""
    profile = yaml.safe_load((ROOT / "profiles.yml.example").read_text())["unify"]["outputs"]
    for target in ("dev", "ci", "prod"):
        build, admin = profile[target], profile[f"{target}_admin"]
        assert {k: v for k, v in admin.items() if k not in ("user", "iam_profile")} == \
            {k: v for k, v in build.items() if k not in ("user", "iam_profile")}
        assert f"unify-{target}-access-admin" in admin["user"] and admin["user"] != build["user"]
    assert profile["ci_admin"]["iam_profile"] is None and profile["prod_admin"]["iam_profile"] is None


def test_a_merge_deploys_then_publishes_the_production_manifest(workflow):
    job = workflow["jobs"]["deploy"]
    assert job["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert job["needs"] == "tests"
    assert job["env"]["UNIFY_PII_KEY_SECRET_ID"] == "${{ vars.PII_KEY_SECRET_ID }}"  # `dbt parse --target prod`
    runs = _runs(job)
    deploy = next(i for i, run in enumerate(runs) if "cdk@2 deploy unify-prod" in run)
    parse = next(i for i, run in enumerate(runs) if "dbt parse --target prod --target-path target/prod" in run)
    publish = next(i for i, run in enumerate(runs) if "unify ci publish-state --target-path target/prod" in run)
    assert deploy < parse < publish
    assert workflow["jobs"]["tests"]["steps"][-1]["run"] == "bash .ci/run"
