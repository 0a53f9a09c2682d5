"""The loader benchmark runs and reports its figures (no timed assertion: figures are for people)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _load_helpers import ROOT


def test_load_throughput_benchmark_reports_loader_and_bare_copy(warehouse, tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "-m", "unify.bench.load_throughput", "--rows", "3000", "--repeat", "1",
                             "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for label in ("bare COPY FROM STDIN", "unify load", "loader / bare"):
        assert label in result.stdout
    figures = json.loads(out.read_text())
    assert figures["rows"] == 3000 and figures["columns"] == 11
    assert figures["bare_rows_per_s_best"] > 0 and figures["loader_rows_per_s_best"] > 0
    assert figures["ratio_best"] == pytest.approx(min(figures["bare_s"]) / min(figures["loader_s"]), rel=0.1)
