"""`unify warehouse start|stop|status|url|psql`: the local warehouse's command line."""

from __future__ import annotations

import argparse
import os
import sys

from loaders.config import load_settings
from unify.local_warehouse import LocalWarehouse, WarehouseError

# Exit codes: 0 fine; 1 an error (message on stderr); 3 `status` found the server stopped (pg_ctl's code).
EXIT_STOPPED = 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "warehouse",
        help="start, stop and inspect the local PostgreSQL warehouse",
        description="The local warehouse: PostgreSQL 16 (pgserver's binaries) in $UNIFY_HOME/pgdata, "
        "listening on 127.0.0.1:$UNIFY_PG_PORT. Set UNIFY_PG_HOST to use an external PostgreSQL instead.",
    )
    actions = parser.add_subparsers(dest="action", metavar="<action>")
    actions.required = True
    def action(name: str, text: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, help=text, description=f"`unify warehouse {name}`: {text}.")

    action("start", "start it (idempotent; creates the data folder on first use)")
    action("stop", "stop it (the data stays)")
    action("status", "say whether it runs (exit 3 when stopped)")
    url = action("url", "print its postgresql:// URL")
    url.add_argument("--database", help="database in the URL (default: $UNIFY_PG_DATABASE or unify)")
    psql = action("psql", "open psql on it; extra arguments go to psql (e.g. -c 'select 1')")
    psql.set_defaults(passthrough=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    warehouse = LocalWarehouse(settings)
    try:
        if args.action == "start":
            print(warehouse.start().describe())
        elif args.action == "stop":
            print(warehouse.stop().describe())
        elif args.action == "status":
            status = warehouse.status()
            print(status.describe())
            return 0 if status.running else EXIT_STOPPED
        elif args.action == "url":
            print(settings.url(database=args.database))
        elif args.action == "psql":
            if not warehouse.status().running:
                raise WarehouseError("the warehouse is not running: `unify warehouse start` first")
            cmd, env = warehouse.psql_command(getattr(args, "extra_args", []))
            sys.stdout.flush()
            os.execvpe(cmd[0], cmd, env)
    except WarehouseError as err:
        print(f"unify warehouse {args.action}: {err}", file=sys.stderr)
        return 1
    return 0
