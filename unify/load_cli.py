"""`unify load`: load what is new in the landing zone into the raw tables (see loaders/load.py).

    unify load                               # every source, from $UNIFY_LANDING into the local warehouse
    unify load --source azureware --dry-run  # what would load, files parsed, nothing written
    unify load --retry-quarantined           # also retry objects earlier runs quarantined
    unify load --landing s3://glc-raw --json-logs --target redshift

Exit codes: 0 all loaded (or nothing new), 3 loaded with quarantines, 4 failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from loaders.config import load_settings
from loaders.load import EXIT_FAILED, TARGETS, LoaderConfig, load
from loaders.errors import LoadFailure
from loaders.logs import configure_logging, log_event
from loaders.source_tables import SYSTEMS

log = logging.getLogger("unify.load_cli")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "load",
        help="load new DMS, AppFlow and TMS files from the landing zone into the raw tables",
        description=__doc__.split("\n\n")[0],
        epilog="Exit codes: 0 all loaded (or nothing new); 3 loaded, some objects quarantined; 4 failed "
               "(nothing of the batch in flight committed; run again); 2 usage error.",
    )
    parser.add_argument("--source", dest="sources", action="append", choices=SYSTEMS, metavar="SYSTEM",
                        help=f"load only this source system ({', '.join(SYSTEMS)}); repeatable (default: all)")
    parser.add_argument("--landing", help="landing zone: a folder or s3://bucket[/prefix] (default: $UNIFY_LANDING)")
    parser.add_argument("--key", dest="keys", action="append", metavar="KEY",
                        help="load only this object key (relative to the landing zone); repeatable")
    parser.add_argument("--dry-run", action="store_true",
                        help="discover, check and parse new files; write nothing to the warehouse")
    parser.add_argument("--retry-quarantined", action="store_true",
                        help="also retry objects that earlier runs quarantined (after fixing the cause)")
    parser.add_argument("--target", choices=["local", *TARGETS],
                        help="warehouse: local PostgreSQL (default) or redshift (env: UNIFY_LOAD_TARGET)")
    parser.add_argument("--json-logs", action="store_true", help="log JSON lines on stderr (CloudWatch-friendly)")
    parser.add_argument("--json-summary", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    level = logging.DEBUG if getattr(args, "verbose", False) else getattr(
        logging, os.environ.get("UNIFY_LOG_LEVEL", "INFO").upper(), logging.INFO)
    configure_logging(json_lines=args.json_logs, level=level)
    settings = load_settings()
    env = dict(os.environ)
    if args.target:
        env["UNIFY_LOAD_TARGET"] = args.target
    try:
        config = LoaderConfig.from_env(env)
    except LoadFailure as err:
        print(f"unify load: {err}", file=sys.stderr)
        return EXIT_FAILED
    try:
        report = load(settings, args.landing or settings.landing, sources=args.sources, dry_run=args.dry_run,
                      progress=args.progress and not args.json_logs and sys.stderr.isatty(),
                      retry_quarantined=args.retry_quarantined, keys=args.keys, config=config)
    except Exception as err:  # a bug: say so clearly, keep the traceback in the log
        log_event(log, "load_crashed", logging.ERROR, error=f"{type(err).__name__}: {err}")
        log.debug("traceback", exc_info=True)
        print(f"unify load: unexpected error {type(err).__name__}: {err} (run with -v for the traceback)",
              file=sys.stderr)
        return EXIT_FAILED
    if args.json_summary:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report.summary())
    return report.exit_code
