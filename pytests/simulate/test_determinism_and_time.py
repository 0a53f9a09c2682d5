"""Same inputs, same bytes; a run continued equals one longer run; volume grows linearly with scale."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from _simfiles import read_dms

from unify.simulate import SimulationError, continue_simulation, simulate

START = date(2026, 11, 1)


def tree(root: Path) -> dict[str, str]:
    """Every file under root (the simulator's own state included) -> sha256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt,days", [("csv", 3), ("parquet", 2)])
def test_same_inputs_give_byte_identical_files(tmp_path, fmt, days):
    a = simulate(str(tmp_path / "a"), days=days, start=START, fmt=fmt, faults=["all"])
    b = simulate(str(tmp_path / "b"), days=days, start=START, fmt=fmt, faults=["all"])
    assert a.files_written == b.files_written > 100
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_the_seed_matters(tmp_path):
    simulate(str(tmp_path / "a"), days=1, start=START)
    simulate(str(tmp_path / "b"), days=1, start=START, seed=7)
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert sorted(a) != sorted(b) or a != b


@pytest.mark.parametrize("fmt,faults,days", [("csv", ["all"], (2, 2, 1)), ("parquet", [], (1, 1, 1))])
def test_continue_equals_one_longer_run(tmp_path, fmt, faults, days):
    simulate(str(tmp_path / "long"), days=sum(days), start=START, fmt=fmt, faults=faults)
    reports = [simulate(str(tmp_path / "split"), days=days[0], start=START, fmt=fmt, faults=faults)]
    for more in days[1:]:
        reports.append(continue_simulation(str(tmp_path / "split"), days=more))
    for before, after in zip(reports, reports[1:]):
        assert after.first_day == before.last_day + timedelta(days=1)
    assert reports[-1].last_day == START + timedelta(days=sum(days) - 1)
    long_tree, split_tree = tree(tmp_path / "long"), tree(tmp_path / "split")
    assert sorted(long_tree) == sorted(split_tree)
    assert long_tree == split_tree


def test_default_start_ends_today(tmp_path):
    report = simulate(str(tmp_path), days=1)
    today = datetime.now(timezone.utc).date()
    assert report.first_day == report.last_day == today - timedelta(days=1)


def test_refuses_to_overwrite_and_to_continue_nothing(tmp_path):
    simulate(str(tmp_path / "x"), days=1, start=START)
    with pytest.raises(SimulationError, match="already holds a simulation"):
        simulate(str(tmp_path / "x"), days=1, start=START)
    with pytest.raises(SimulationError, match="no simulation to continue"):
        continue_simulation(str(tmp_path / "empty"))
    with pytest.raises(SimulationError, match="unknown scale"):
        simulate(str(tmp_path / "y"), scale="huge")
    with pytest.raises(SimulationError, match="unknown fault"):
        simulate(str(tmp_path / "y"), faults=["gremlins"])


def count_order_lines(root: Path) -> int:
    return len({r["OrderLineId"] for f in read_dms(root)["OrderLines"] for r in f.rows})


def test_volume_grows_linearly_with_scale(tmp_path):
    small = simulate(str(tmp_path / "s"), scale=0.1, days=3, start=START)
    big = simulate(str(tmp_path / "b"), scale=0.4, days=3, start=START)
    lines_small, lines_big = count_order_lines(tmp_path / "s"), count_order_lines(tmp_path / "b")
    print(f"order lines: scale 0.1 -> {lines_small}, scale 0.4 -> {lines_big} (ratio {lines_big / lines_small:.2f})")
    assert 3.4 <= lines_big / lines_small <= 4.6
    assert small.entities["order_lines"] == lines_small  # the report counts what the files hold
    assert big.entities["order_lines"] == lines_big


def test_tiny_week_size(tiny_csv):
    """tiny with the default 7 days: roughly 1-3k order lines (CI builds the dbt project on it)."""
    lines = count_order_lines(tiny_csv.root)
    print(f"tiny, 7 days: {lines} order lines, {tiny_csv.report.files_written} files, "
          f"{tiny_csv.report.seconds:.2f} s")
    assert 1000 <= lines <= 3000
