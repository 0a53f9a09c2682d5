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
import textwrap

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
    ("dashboards", "unify.dashboards.cli"),
    ("quicksight", "unify.quicksight.cli"),
    ("bench", "unify.bench.cli"),
]


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and epilogs keep their line breaks (lists, examples); options show their defaults.

    argparse's own two formatters, combined, with two things neither does: a paragraph written as one
    long line (most `description="..."` strings) is wrapped to the terminal instead of running off it,
    while paragraphs of several lines keep their author's line breaks; and no "(default: None)" or
    "(default: False)" (an option that is off, or whose help says what happens without it), nor a
    default the help text already states in its own words.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = text.splitlines()
        out = []
        for i, line in enumerate(lines):
            alone = (i == 0 or not lines[i - 1].strip()) and (i + 1 == len(lines) or not lines[i + 1].strip())
            lead = indent + line[: len(line) - len(line.lstrip())]
            if alone and len(indent + line) > width:
                out.append(textwrap.fill(line.strip(), width, initial_indent=lead, subsequent_indent=lead,
                                         break_on_hyphens=False))
            else:
                out.append(indent + line if line.strip() else "")
        return "\n".join(out)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if action.default is None or isinstance(action.default, bool) or "default" in help_text.lower():
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser with the project's HelpFormatter; subcommands' parsers (at every level) are of
    this class too, since add_subparsers makes its parsers of the parent's class."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="unify",
        description="Project Unify: local warehouse, source simulators, loaders and project checks.",
    )
    parser.add_argument("--version", action="version", version=f"unify {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=Parser)
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
