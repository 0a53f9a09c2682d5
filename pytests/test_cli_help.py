"""`unify <command> --help` at every level: defaults shown, the author's line breaks kept (unify.cli.HelpFormatter)."""

from __future__ import annotations

import argparse

import pytest

from unify.cli import HelpFormatter, build_parser


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


@pytest.fixture
def parsers(monkeypatch) -> dict[str, argparse.ArgumentParser]:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps to the terminal's width
    return {p.prog: p for p in _parsers(build_parser())}


def test_every_command_at_every_level_uses_the_formatter(parsers):
    assert {"unify demo", "unify docs generate", "unify warehouse start", "unify check redshift",
            "unify access show", "unify bench", "unify simulate", "unify load", "unify alert"} <= set(parsers)
    for prog, parser in parsers.items():
        assert parser.formatter_class is HelpFormatter, prog
        text = parser.format_help()
        assert "(default: None)" not in text and "(default: False)" not in text, prog
        assert max(len(line) for line in text.splitlines()) <= 110, prog


def test_defaults_are_shown_once(parsers):
    demo = parsers["unify demo"].format_help()
    assert "days of initial history (default: 28)" in demo
    options = demo.split("\noptions:\n")[1]
    assert "(default: all)" in options and options.count("default") == options.count("(default")  # none twice
    # a help text that states its default in its own words keeps it, without argparse's copy
    serve = parsers["unify docs serve"].format_help()
    assert "TCP port (default 8080; 0 picks a free one)" in serve and "(default: 8080)" not in serve


def test_line_breaks_of_lists_and_examples_are_kept_and_long_lines_wrapped(parsers):
    docs = parsers["unify docs"].format_help().splitlines()
    assert any(line.startswith("  serve      serve the target folder") for line in docs)
    assert any(line.strip().startswith("on http://127.0.0.1:8080/") for line in docs)  # its second line
    bench = parsers["unify bench"].format_help().splitlines()
    assert "    unify bench --scale large,xlarge" in bench
    # a description written as one long line is wrapped to the terminal, not left running off it
    warehouse = parsers["unify warehouse"].format_help().splitlines()
    assert any(line.startswith("127.0.0.1:$UNIFY_PG_PORT") for line in warehouse)
