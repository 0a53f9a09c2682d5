"""The GitHub Actions workflow, linted offline: it parses, AWS access is OIDC (id-token: write, a role to
assume, no stored key, no secret in any env), the pull-request job runs the gate, lint and `unify ci slim`
into ci_pr_<number>, and a merge deploys before it publishes the production manifest."""

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
                assert not re.search(r"(?i)password|secret|token|key_id", key), (name, key)
                assert "secrets." not in str(value), (name, key)
        for step in _uses(job, "aws-actions/configure-aws-credentials"):
            assert set(step["with"]) == {"role-to-assume", "role-session-name", "aws-region"}
            assert step["with"]["role-to-assume"].startswith("${{ vars.")
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.match(r"^[\w-]+/[\w-]+@v\d+$", step["uses"]), step["uses"]  # pinned major versions


def test_pull_requests_run_gate_lint_and_slim_ci_in_their_own_schema(workflow):
    job = workflow["jobs"]["slim-ci"]
    assert job["if"] == "github.event_name == 'pull_request'"
    assert job["env"]["UNIFY_SCHEMA"] == "ci_pr_${{ github.event.pull_request.number }}"
    assert job["env"]["DBT_TARGET"] == "ci"
    runs = _runs(job)
    order = [next(i for i, run in enumerate(runs) if marker in run)
             for marker in ("make check", "make lint", "unify ci fetch-state", "unify ci slim")]
    assert order == sorted(order)
    credentials = job["steps"].index(_uses(job, "aws-actions/configure-aws-credentials")[0])
    fetch = next(i for i, s in enumerate(job["steps"]) if "unify ci fetch-state" in s.get("run", ""))
    assert credentials < fetch
    slim = next(run for run in runs if "unify ci slim" in run)
    assert '--schema "$UNIFY_SCHEMA"' in slim and "--state state" in slim and "--target ci" in slim
    # the commands the workflow runs exist with these options (the schema drop is part of `ci slim`)
    parser = build_parser()
    args = parser.parse_args(["ci", "slim", "--state", "state", "--schema", "ci_pr_1", "--target", "ci"])
    assert args.func.__name__ == "run_slim"
    parser.parse_args(["ci", "fetch-state", "--from", "s3://b/dbt/prod", "--to", "state"])
    parser.parse_args(["ci", "publish-state", "--target-path", "target/prod", "--to", "s3://b/dbt/prod"])


def test_a_merge_deploys_then_publishes_the_production_manifest(workflow):
    job = workflow["jobs"]["deploy"]
    assert job["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert job["needs"] == "tests"
    runs = _runs(job)
    deploy = next(i for i, run in enumerate(runs) if "cdk@2 deploy unify-prod" in run)
    parse = next(i for i, run in enumerate(runs) if "dbt parse --target prod --target-path target/prod" in run)
    publish = next(i for i, run in enumerate(runs) if "unify ci publish-state --target-path target/prod" in run)
    assert deploy < parse < publish
    assert workflow["jobs"]["tests"]["steps"][-1]["run"] == "bash .ci/run"
