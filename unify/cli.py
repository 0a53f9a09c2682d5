"""The `unify` command. It only parses arguments and calls the modules that do the work.

Each subcommand lives in its own module, which exposes `add_parser(subparsers)`; the parser's
`func(args) -> int` returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from unify import __version__

# (subcommand, module providing add_parser). Order is the order of `unify --help`.
COMMAND_MODULES = [
    ("warehouse", "unify.local_warehouse_cli"),
    ("simulate", "unify.simulate.cli"),
    ("load", "unify.load_cli"),
    ("demo", "unify.demo"),
    ("check", "unify.checks.cli"),
    ("alert", "unify.alerting"),
    ("cycle", "unify.cycle"),
    ("ci", "unify.slim_ci"),
    ("access", "unify.access"),
    ("docs", "unify.catalog.cli"),
    ("bench", "unify.bench.cli"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unify",
        description="Project Unify: local warehouse, source simulators, loaders and project checks.",
    )
    parser.add_argument("--version", action="version", version=f"unify {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True
    for _name, module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not getattr(args, "passthrough", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.extra_args = extra
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else getattr(logging, os.environ.get("UNIFY_LOG_LEVEL", "INFO")),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
