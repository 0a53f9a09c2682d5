"""`unify ci`: slim CI for pull requests (docs/operations.md, "Slim CI"), the same flow on Redshift
(.github/workflows/ci.yml) and on the local warehouse.

    unify ci fetch-state --from s3://<artifacts>/dbt/prod --to state/   # the production manifest.json
    unify ci slim --state state/ --schema ci_pr_7 [--target ci]
        1. dbt build --selector ci --defer --state state/    (selectors.yml `ci` = state:modified+)
           into UNIFY_SCHEMA=ci_pr_7: the changed nodes and everything downstream are built in ci_pr_7_<layer>;
           every unchanged parent they read is production's relation (--defer), never rebuilt;
        2. dbt run-operation drop_ci_schemas: ci_pr_7 and ci_pr_7_* are dropped, also when the build failed.
    unify ci publish-state --target-path target --to s3://<artifacts>/dbt/prod  # on merge: the next comparison

On Redshift (.github/workflows/ci.yml) the run's schemas outlive the build for two more steps, so the
workflow splits it: `unify access install-pii-key` fills the run's key vault (ci_pr_7_pii) before the build,
`unify ci slim --keep-schemas` builds, `unify access apply --target ci_admin` runs the privileged step as
CI's security admin, and `unify ci drop --schema ci_pr_7` drops everything (a step that always runs).

The CI schema must start with `ci_` and must not be (or prefix) a schema of the production manifest.

Exit codes (slim): 0 the build passed and the schemas are gone (or kept: --keep-schemas); 1 the build
failed (schemas dropped unless kept); 2 bad input (no production manifest, a schema that is not a CI
schema); 3 the schemas could not be dropped (the message says which command to run by hand). drop: 0
dropped, 2 bad input, 3 not dropped. fetch/publish: 0 done, 2 bad input, 4 S3 failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from loaders.config import Settings, load_settings
from unify.dbt_runner import dbt_target_path, run_dbt

EXIT_OK, EXIT_BUILD_FAILED, EXIT_INPUT, EXIT_DROP_FAILED, EXIT_S3 = 0, 1, 2, 3, 4
CI_SCHEMA = re.compile(r"^ci_[a-z0-9_]+$")


class SlimCiError(Exception):
    """Bad input for slim CI (no production manifest, a schema that is not a CI schema)."""


@dataclass
class SlimCiResult:
    schema: str
    build_exit_code: int
    built: dict[str, str] = field(default_factory=dict)    # unique_id -> status, from run_results.json
    dropped: list[str] = field(default_factory=list)
    drop_exit_code: int = 0
    drop_output: str = ""
    target_path: Path | None = None

    @property
    def exit_code(self) -> int:
        if self.drop_exit_code:
            return EXIT_DROP_FAILED
        return EXIT_OK if self.build_exit_code == 0 else EXIT_BUILD_FAILED


def production_schemas(manifest: dict) -> set[str]:
    return {node["schema"] for node in [*manifest.get("nodes", {}).values(), *manifest.get("sources", {}).values()]
            if node.get("schema")}


def check_ci_schema(schema: str, manifest: dict) -> None:
    if not CI_SCHEMA.match(schema):
        raise SlimCiError(f"CI schema {schema!r} must match {CI_SCHEMA.pattern} (e.g. ci_pr_7): it is dropped afterwards")
    clash = sorted(s for s in production_schemas(manifest) if s == schema or s.startswith(schema + "_"))
    if clash:
        raise SlimCiError(f"CI schema {schema!r} would build into or drop production schema(s) {', '.join(clash)}")


def read_state(state: Path) -> dict:
    path = state / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SlimCiError(f"{path}: no production manifest (fetch it with `unify ci fetch-state`, or publish one "
                          "from main with `unify ci publish-state`)") from None
    except ValueError as err:
        raise SlimCiError(f"{path}: not a dbt manifest: {err}") from None


def _target_args(dbt_target: str | None) -> list[str]:
    return ["--target", dbt_target] if dbt_target else []


def slim_ci(settings: Settings, *, state: Path, schema: str, dbt_target: str | None = None,
            target_path: Path | None = None, capture: bool = False, drop: bool = True) -> SlimCiResult:
    """Build state:modified+ deferred to production into `schema`, then drop the run's schemas (always,
    unless `drop` is false: `unify ci drop` does it later)."""
    check_ci_schema(schema, read_state(state))
    target_path = target_path or dbt_target_path() / "ci" / schema
    (target_path / "run_results.json").unlink(missing_ok=True)
    result = SlimCiResult(schema, build_exit_code=-1, target_path=target_path)
    try:
        proc = run_dbt(["build", "--selector", "ci", "--defer", "--state", str(state.resolve()),
                        *_target_args(dbt_target)], settings, target_path=target_path, capture=capture,
                       check=False, env={"UNIFY_SCHEMA": schema})
        result.build_exit_code = proc.returncode
        try:
            run_results = json.loads((target_path / "run_results.json").read_text())
            result.built = {r["unique_id"]: r["status"] for r in run_results.get("results", [])}
        except FileNotFoundError:
            pass
    finally:
        if drop:
            result.drop_exit_code, result.drop_output, result.dropped = drop_ci_schemas(
                settings, schema, dbt_target, target_path / "drop")
    return result


def drop_ci_schemas(settings: Settings, schema: str, dbt_target: str | None,
                    target_path: Path) -> tuple[int, str, list[str]]:
    """`dbt run-operation drop_ci_schemas` for a CI schema: (exit code, dbt's output, the schemas dropped)."""
    if not CI_SCHEMA.match(schema):
        raise SlimCiError(f"CI schema {schema!r} must match {CI_SCHEMA.pattern} (e.g. ci_pr_7)")
    drop = run_dbt(["run-operation", "drop_ci_schemas", "--args", json.dumps({"prefix": schema}),
                    *_target_args(dbt_target)], settings, target_path=target_path, capture=True,
                   check=False, env={"UNIFY_SCHEMA": schema})
    output = drop.stdout or ""
    found = re.search(r"drop_ci_schemas: dropped \d+ schema\(s\): ?([^\n]*)", output)
    return drop.returncode, output, [s.strip() for s in found.group(1).split(",") if s.strip()] if found else []


# ------------------------------------------------------------------------------------- S3 state


def _split(url: str) -> tuple[str, str]:
    if not url.startswith("s3://") or len(url) <= 5:
        raise SlimCiError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    return bucket, (prefix.strip("/") + "/manifest.json").lstrip("/")


def fetch_state(url: str, to: Path, client=None) -> Path:
    """Download the production manifest.json from `url` (an s3:// prefix) into the folder `to`."""
    import boto3
    from botocore.exceptions import ClientError

    bucket, key = _split(url)
    client = client or boto3.client("s3")
    to.mkdir(parents=True, exist_ok=True)
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise SlimCiError(f"s3://{bucket}/{key}: no production manifest published yet (merge to main publishes "
                              "one; until then build everything: dbt build --selector nightly)") from None
        raise
    json.loads(body)  # a manifest, not an error page
    (to / "manifest.json").write_bytes(body)
    return to / "manifest.json"


def publish_state(target_path: Path, url: str, client=None) -> str:
    """Upload <target_path>/manifest.json to `url` (an s3:// prefix) as the next comparison's state."""
    import boto3

    manifest = target_path / "manifest.json"
    body = manifest.read_bytes() if manifest.exists() else None
    if body is None:
        raise SlimCiError(f"{manifest}: not found (run `dbt parse` or a build with this target path first)")
    metadata = json.loads(body).get("metadata", {})
    bucket, key = _split(url)
    client = client or boto3.client("s3")
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json",
                      Metadata={"dbt-invocation-id": str(metadata.get("invocation_id", "")),
                                "git-sha": os.environ.get("GITHUB_SHA", "")})
    return f"s3://{bucket}/{key}"


# -------------------------------------------------------------------------------------------- CLI


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ci", help="slim CI: build what a pull request changed, deferred to production, in a throw-away schema",
        description="Slim CI (docs/operations.md): `slim` builds state:modified+ with --defer into a CI schema and "
                    "drops it afterwards; `fetch-state`/`publish-state` move the production manifest through S3.")
    sub = parser.add_subparsers(dest="ci_command", metavar="<ci command>")
    sub.required = True

    slim = sub.add_parser("slim", help="dbt build --selector ci --defer --state DIR into SCHEMA, then drop SCHEMA*",
                          description="Exit codes: 0 passed, 1 build failed, 2 bad input, 3 schemas not dropped.")
    slim.add_argument("--state", type=Path, required=True, help="folder holding the production manifest.json")
    slim.add_argument("--schema", required=True, help="the run's schema, e.g. ci_pr_7 (layers ci_pr_7_<layer>)")
    slim.add_argument("--target", dest="dbt_target", default=os.environ.get("DBT_TARGET"),
                      help="profiles.yml target (default: $DBT_TARGET, else local; `ci` on Redshift)")
    slim.add_argument("--target-path", type=Path, default=None, help="dbt artifacts (default: <target>/ci/<schema>)")
    slim.add_argument("--project-dir", type=Path, default=None,
                      help="the dbt project to build (default: this checkout)")
    slim.add_argument("--keep-schemas", action="store_true",
                      help="leave the run's schemas for later steps (the privileged step); `unify ci drop` drops them")
    slim.set_defaults(func=run_slim)

    drop = sub.add_parser("drop", help="drop a CI run's schemas SCHEMA and SCHEMA_* (after slim --keep-schemas)",
                          description="Exit codes: 0 dropped, 2 bad input, 3 not dropped.")
    drop.add_argument("--schema", required=True, help="the run's schema, e.g. ci_pr_7")
    drop.add_argument("--target", dest="dbt_target", default=os.environ.get("DBT_TARGET"),
                      help="profiles.yml target (default: $DBT_TARGET, else local; `ci` on Redshift)")
    drop.add_argument("--project-dir", type=Path, default=None, help="the dbt project (default: this checkout)")
    drop.set_defaults(func=run_drop)

    fetch = sub.add_parser("fetch-state", help="download the production manifest.json from S3")
    fetch.add_argument("--from", dest="url", required=True, help="s3://bucket/prefix holding manifest.json")
    fetch.add_argument("--to", type=Path, required=True, help="folder to write manifest.json into")
    fetch.set_defaults(func=run_fetch)

    publish = sub.add_parser("publish-state", help="upload a manifest.json to S3 as the production state")
    publish.add_argument("--target-path", type=Path, required=True, help="dbt target folder holding manifest.json")
    publish.add_argument("--to", dest="url", required=True, help="s3://bucket/prefix")
    publish.set_defaults(func=run_publish)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    return replace(settings, root=args.project_dir.resolve()) if args.project_dir else settings


def _drop_failed(schema: str, code: int, output: str) -> None:
    print(f"unify ci: dropping {schema}* FAILED (exit {code}); drop them by hand: UNIFY_SCHEMA={schema} "
          f"dbt run-operation drop_ci_schemas --args '{{prefix: {schema}}}'\n"
          + "\n".join(output.splitlines()[-10:]), file=sys.stderr)


def run_drop(args: argparse.Namespace) -> int:
    try:
        code, output, dropped = drop_ci_schemas(_settings(args), args.schema, args.dbt_target,
                                                dbt_target_path() / "ci" / args.schema / "drop")
    except SlimCiError as err:
        print(f"unify ci drop: {err}", file=sys.stderr)
        return EXIT_INPUT
    if code:
        _drop_failed(args.schema, code, output)
        return EXIT_DROP_FAILED
    print(f"unify ci drop: dropped {len(dropped)} schema(s): {', '.join(dropped) or '-'}")
    return EXIT_OK


def run_slim(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        result = slim_ci(settings, state=args.state, schema=args.schema, dbt_target=args.dbt_target,
                         target_path=args.target_path, drop=not args.keep_schemas)
    except SlimCiError as err:
        print(f"unify ci slim: {err}", file=sys.stderr)
        return EXIT_INPUT
    statuses: dict[str, int] = {}
    for status in result.built.values():
        statuses[status] = statuses.get(status, 0) + 1
    print(f"unify ci slim: built {len(result.built)} node(s) in {args.schema} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(statuses.items())) or 'nothing changed'}); "
          f"dbt build exit {result.build_exit_code}")
    if args.keep_schemas:
        print(f"unify ci slim: kept {args.schema} and {args.schema}_* (drop them with `unify ci drop --schema "
              f"{args.schema}`)")
    elif result.drop_exit_code:
        _drop_failed(args.schema, result.drop_exit_code, result.drop_output)
    else:
        print(f"unify ci slim: dropped {len(result.dropped)} schema(s): {', '.join(result.dropped) or '-'}")
    return result.exit_code


def _s3_command(work) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        print(work())
    except SlimCiError as err:
        print(f"unify ci: {err}", file=sys.stderr)
        return EXIT_INPUT
    except (BotoCoreError, ClientError) as err:
        print(f"unify ci: S3 failed: {err}", file=sys.stderr)
        return EXIT_S3
    return EXIT_OK


def run_fetch(args: argparse.Namespace) -> int:
    return _s3_command(lambda: f"unify ci fetch-state: wrote {fetch_state(args.url, args.to)}")


def run_publish(args: argparse.Namespace) -> int:
    return _s3_command(lambda: f"unify ci publish-state: published {publish_state(args.target_path, args.url)}")
