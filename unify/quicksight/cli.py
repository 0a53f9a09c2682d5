"""`unify quicksight <action>`: QuickSight as code, from unify/dashboards/spec.yml.

  plan        what deploy would change (with no AWS session, or --offline: every resource, as creates)
  deploy      create or update the groups, the Redshift data source, the SPICE data sets (row-level
              security attached to the client-scoped ones) and the two dashboards; idempotent; --prune
              also deletes what an earlier deploy made and the spec no longer has (plan lists it)
  refresh     start a SPICE ingestion of every data set (after the frequent load cycle)
  exposures   the dbt exposures from the same configuration: --check (exit 1 when stale) or --write

Configuration: the spec's `quicksight:` section, any key overridable by UNIFY_QUICKSIGHT_<KEY> (e.g.
UNIFY_QUICKSIGHT_ACCOUNT_ID); AWS credentials and region the usual boto3 way. AWS_ENDPOINT_URL points
boto3 at another endpoint (the tests' moto server).

Exit codes: 0 done, 1 exposures stale (--check), 2 it could not run (the message says why).
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_STALE, EXIT_ERROR = 0, 1, 2


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("quicksight", help="QuickSight as code: plan, deploy, refresh, exposures",
                                   description=__doc__.split("\n\n")[0], epilog="docs/dashboards.md")
    actions = parser.add_subparsers(dest="action", metavar="<action>")
    actions.required = True
    for name, text in (("plan", "print what deploy would change"), ("deploy", "create or update everything"),
                       ("refresh", "start a SPICE ingestion per data set")):
        p = actions.add_parser(name, help=text, description=text)
        p.add_argument("--account-id", help="AWS account (default: UNIFY_QUICKSIGHT_ACCOUNT_ID, the spec, or STS)")
        if name == "plan":
            p.add_argument("--offline", action="store_true", help="do not call AWS: list every resource")
            p.add_argument("--json", action="store_true", help="print the requests as JSON")
        if name == "deploy":
            p.add_argument("--prune", action="store_true",
                           help="also delete what an earlier deploy made and the spec no longer has")
        p.set_defaults(func=run)
    ex = actions.add_parser("exposures", help="dbt exposures from the spec's configuration")
    mode = ex.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    ex.set_defaults(func=run_exposures)


def _has_credentials() -> bool:
    import boto3

    return boto3.Session().get_credentials() is not None


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from unify.dashboards.spec import SpecError
    from unify.quicksight import deploy
    from unify.quicksight.resources import EXAMPLE_ACCOUNT, QuickSightConfigError, load_config

    try:
        offline = getattr(args, "offline", False) or not _has_credentials()
        config = load_config(args.account_id)
        if config.account_id == EXAMPLE_ACCOUNT and not offline:
            config = load_config(deploy.account_from_sts(config.region))
        if args.action == "plan":
            client = None if offline else deploy.client_for(config)
            if offline:
                example = (" (an example: set UNIFY_QUICKSIGHT_ACCOUNT_ID)"
                           if config.account_id == EXAMPLE_ACCOUNT else "")
                print(f"offline (no AWS session{' used' if getattr(args, 'offline', False) else ''}): every "
                      f"resource is listed as a create; account {config.account_id}{example}")
            changes = deploy.plan(config, client)
            if args.json:
                print(json.dumps([{"action": c.action, "kind": c.resource.kind, "id": c.resource.id,
                                   "operation": c.resource.create_op, "request": c.resource.request}
                                  for c in changes], indent=2, default=str))
                return EXIT_OK
            for c in changes:
                extra = f"  ({'; '.join(c.resource.notes)})" if c.resource.notes else ""
                print(f"  {c.action:9s} {c.resource.kind:11s} {c.resource.id:40s} {c.reason}{extra}")
            counts = {a: sum(c.action == a for c in changes) for a in ("create", "update", "unchanged", "delete")}
            print(f"{len(changes)} resources in {config.region}: "
                  + ", ".join(f"{n} to {a}" if a != "unchanged" else f"{n} unchanged" for a, n in counts.items()
                              if n or a != "delete"))
            return EXIT_OK
        if offline:
            print(f"unify quicksight {args.action}: no AWS credentials (boto3 found none)", file=sys.stderr)
            return EXIT_ERROR
        client = deploy.client_for(config)
        if args.action == "deploy":
            changes = deploy.plan(config, client)
            done = deploy.apply(client, changes, prune=args.prune)
            kept = [c.resource for c in changes if c.action == "delete" and not args.prune]
            print(f"deployed: {len(done)} change(s), {sum(c.action == 'unchanged' for c in changes)} unchanged")
            if kept:
                print(f"kept {len(kept)} resource(s) an earlier deploy made that the spec no longer has (deploy "
                      "--prune deletes them): " + ", ".join(f"{r.kind} {r.id}" for r in kept))
            for d in config.spec.dashboards:
                print(f"  {d.name}: {config.dashboard_url(d)}")
            return EXIT_OK
        for data_set_id, ingestion_id, status in deploy.refresh_data_sets(config, client):
            print(f"  {data_set_id}: ingestion {ingestion_id} {status}")
        return EXIT_OK
    except (SpecError, QuickSightConfigError, deploy.QuickSightDeployError) as err:
        print(f"unify quicksight {args.action}: {err}", file=sys.stderr)
    except (ClientError, BotoCoreError) as err:
        print(f"unify quicksight {args.action}: AWS refused: {err}", file=sys.stderr)
    return EXIT_ERROR


def run_exposures(args: argparse.Namespace) -> int:
    from loaders.config import project_root
    from unify.dashboards.spec import SpecError
    from unify.quicksight.exposures import check_exposures, write_exposures
    from unify.quicksight.resources import load_config

    try:
        config = load_config()
        if args.write:
            for path in write_exposures(config, project_root()):
                print(f"wrote {path}")
            return EXIT_OK
        problems = check_exposures(config, project_root())
    except SpecError as err:
        print(f"unify quicksight exposures: {err}", file=sys.stderr)
        return EXIT_ERROR
    for problem in problems:
        print(problem)
    return EXIT_STALE if problems else EXIT_OK
