"""`unify docs`: clear errors and exit codes (the browser test covers `serve` answering)."""

from __future__ import annotations

import json
import socket

from unify.cli import main


def test_serve_without_generated_docs_says_how_to_make_them(tmp_path, capsys):
    assert main(["docs", "serve", "--target-path", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "index.html" in err and "unify docs generate" in err


def test_serve_on_a_taken_port_says_so(catalog_site, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["docs", "serve", "--port", str(port), "--target-path", str(catalog_site.target_path)])
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_check_exit_codes(catalog_site, tmp_path, capsys):
    assert main(["docs", "check", "--target-path", str(catalog_site.target_path)]) == 0
    assert "complete" in capsys.readouterr().out
    manifest = catalog_site.manifest()
    manifest["nodes"]["seed.unify.country_regions"]["description"] = ""
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert main(["docs", "check", "--target-path", str(tmp_path)]) == 1
    assert "seed country_regions: no description" in capsys.readouterr().out
