"""`unify docs <action>`: the data catalog (dbt docs site + column lineage).

  serve      serve the target folder: the dbt docs site (index.html) and the lineage page (lineage.html)
             on http://127.0.0.1:8080/ (--port to change, --host 0.0.0.0 to publish it deliberately)
  generate   `dbt docs generate` on the local warehouse, then the column lineage (what `make demo` ends with)
  lineage    only (re)build column_lineage.json and lineage.html from the artifacts already in the folder
  check      description coverage of the project (every source, model, column, seed, snapshot, macro,
             macro argument, exposure); exit 1 when something is undocumented

Exit codes: 0 done, 1 `check` found gaps, 2 it could not run (the message says why).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unify.catalog.server import DEFAULT_PORT, LOOPBACK
from unify.dbt_runner import dbt_target_path

EXIT_OK, EXIT_GAPS, EXIT_ERROR = 0, 1, 2


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "docs",
        help="the data catalog: serve or generate the dbt docs site with column-level lineage",
        description=__doc__,
    )
    actions = parser.add_subparsers(dest="action", metavar="<action>")
    actions.required = True

    def target_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--target-path", type=Path, default=None,
                       help="dbt's target folder (default: $DBT_TARGET_PATH or <project>/target)")

    serve = actions.add_parser("serve", help="serve the docs site and the lineage page over HTTP",
                               description="Serve the target folder (dbt docs site + lineage.html). "
                                           "Loopback only unless --host says otherwise.")
    target_arg(serve)
    serve.add_argument("--host", default=LOOPBACK,
                       help=f"address to bind (default {LOOPBACK}; 0.0.0.0 publishes the catalog to the network)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)")
    serve.set_defaults(func=run_serve)

    generate = actions.add_parser("generate", help="dbt docs generate on the local warehouse, then the lineage",
                                  description="Runs `dbt docs generate` (starting the local warehouse if "
                                              "needed), then writes column_lineage.json and lineage.html.")
    target_arg(generate)
    generate.set_defaults(func=run_generate)

    lineage = actions.add_parser("lineage", help="write column_lineage.json and lineage.html from the artifacts",
                                 description="Column-level lineage from manifest.json (+ catalog.json) "
                                             "already in the target folder; no warehouse needed.")
    target_arg(lineage)
    lineage.set_defaults(func=run_lineage)

    check = actions.add_parser("check", help="description coverage: list everything undocumented",
                               description="Reads manifest.json (run `dbt parse` first) and lists every "
                                           "undocumented source, model, column, seed, snapshot, macro, "
                                           "macro argument and exposure.")
    target_arg(check)
    check.set_defaults(func=run_check)


def _target(args: argparse.Namespace) -> Path:
    return (args.target_path or dbt_target_path()).resolve()


def _error(message: str) -> int:
    print(f"unify docs: {message}", file=sys.stderr)
    return EXIT_ERROR


def run_serve(args: argparse.Namespace) -> int:
    from unify.catalog.server import CatalogServerError, check_folder, open_server

    folder = _target(args)
    try:
        for warning in check_folder(folder):
            print(f"unify docs: warning: {warning}", file=sys.stderr)
        server = open_server(folder, host=args.host, port=args.port)
    except CatalogServerError as err:
        return _error(str(err))
    if args.host not in (LOOPBACK, "localhost", "::1"):
        print(f"unify docs: warning: listening on {args.host}: anyone who can reach this machine can read "
              "the catalog", file=sys.stderr)
    print(f"Serving the data catalog from {folder}", flush=True)
    print(f"  docs site:      {server.url}", flush=True)
    print(f"  column lineage: {server.url}lineage.html", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return EXIT_OK


def run_generate(args: argparse.Namespace) -> int:
    from loaders.config import load_settings
    from unify.catalog.lineage import LineageError, generate_docs
    from unify.dbt_runner import DbtError
    from unify.local_warehouse import LocalWarehouse, WarehouseError

    settings = load_settings()
    folder = _target(args)
    try:
        LocalWarehouse(settings).start()
        docs, lineage = generate_docs(settings, folder, progress=sys.stderr.isatty())
    except (WarehouseError, DbtError, LineageError) as err:
        return _error(str(err))
    for warning in docs.warnings:
        print(f"unify docs: dbt warning: {warning}", file=sys.stderr)
    print(f"{docs.summary()} (log: {docs.log_file})")
    _print_lineage(lineage)
    return EXIT_OK


def run_lineage(args: argparse.Namespace) -> int:
    from unify.catalog.lineage import LineageError, write_lineage

    try:
        report = write_lineage(_target(args))
    except LineageError as err:
        return _error(str(err))
    _print_lineage(report)
    return EXIT_OK


def _print_lineage(report) -> None:
    print(report.summary())
    print(f"  {report.json_path}\n  {report.html_path}")


def run_check(args: argparse.Namespace) -> int:
    from unify.catalog.completeness import CompletenessError, check_manifest, load_manifest

    try:
        coverage = check_manifest(load_manifest(_target(args)))
    except CompletenessError as err:
        return _error(str(err))
    print(coverage.summary())
    for gap in coverage.gaps:
        print(f"  {gap}")
    return EXIT_GAPS if coverage.gaps else EXIT_OK
