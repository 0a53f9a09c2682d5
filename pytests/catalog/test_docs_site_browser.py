"""The served catalog in a real browser: `unify docs serve`, headless Chromium, what a user sees.

Opens fct_orders' page in the dbt docs site, its lineage graph (dbt docs' DAG view), the overview, and the
column lineage page for fct_orders.is_otif; checks the visible text and the graph's upstream nodes, and
saves screenshots to .unify/test-artifacts/ (catalog_*.png) for a reviewer to look at.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from catalog_browser import Browser, png_stats
from support import free_port

ROOT = Path(__file__).resolve().parents[2]
MODEL = "model.unify.fct_orders"


@pytest.fixture(scope="module")
def served(catalog_site):
    """`unify docs serve` on a free loopback port, as a user starts it."""
    port = free_port()
    log = catalog_site.target_path.parent / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("unify")), "docs", "serve", "--port", str(port),
             "--target-path", str(catalog_site.target_path)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "lineage.html", timeout=2) as reply:
                assert reply.status == 200
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"`unify docs serve` did not answer on {url}: {log.read_text()}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    assert "Serving the data catalog" in log.read_text()


def _assert_real_picture(path: Path) -> None:
    width, height, colours, dominant = png_stats(path)
    print(f"{path.name}: {width}x{height}, {colours} colours, most common colour {dominant:.0%} of pixels")
    assert (width, height) == (1440, 900)
    assert colours >= 200, f"{path} looks blank: {colours} distinct colours"
    assert dominant < 0.9, f"{path} is mostly one colour ({dominant:.0%})"


def test_docs_site_and_lineage_page_in_chromium(served, catalog_site, artifacts_dir, tmp_path):
    manifest = catalog_site.manifest()
    model = manifest["nodes"][MODEL]
    description_start = " ".join(model["description"].split())[:60]
    parents = manifest["parent_map"][MODEL]
    parent_names = {(manifest["nodes"].get(p) or manifest["sources"][p])["name"] for p in parents}
    shots = []
    with Browser(tmp_path / "chromium-profile") as browser:
        # 1. the mart's page: name, description, every column
        browser.navigate(f"{served}#!/model/{MODEL}")
        browser.wait_for("document.body && document.body.innerText.includes('is_otif')", "fct_orders' columns")
        text = " ".join(browser.text().split())
        assert "fct_orders" in text
        assert description_start in text, f"description not shown: {description_start!r}"
        missing = [c for c in model["columns"] if c not in text]
        assert not missing, f"columns not shown on the page: {missing}"
        shots.append(browser.screenshot(artifacts_dir / "catalog_fct_orders.png"))

        # 2. its lineage graph (the DAG view), full screen: the upstream models and sources are drawn
        browser.evaluate("document.querySelector('a[title=\"View Lineage Graph\"]').click()")
        graph_nodes = ("(() => { const c = document.getElementById('cy'); const cy = c && c._cyreg && c._cyreg.cy;"
                       " return cy ? cy.nodes().filter(n => n.visible()).map(n => n.data('name')) : null; })()")
        browser.wait_for(f"({graph_nodes} || []).length > 1", "the lineage graph")
        browser.evaluate("document.querySelector('a[ng-click=\"showExpanded()\"]').click()")
        browser.wait_for("document.querySelector('.launcher-window') && "
                         "document.querySelector('.launcher-window').offsetWidth > 1000", "the full-screen graph")
        time.sleep(1.0)  # the graph re-lays out after expanding; the screenshot should show it settled
        drawn = set(browser.evaluate(graph_nodes))
        assert "fct_orders" in drawn
        assert parent_names <= drawn, f"upstream nodes missing from the graph: {parent_names - drawn}"
        shots.append(browser.screenshot(artifacts_dir / "catalog_fct_orders_lineage_graph.png"))

        # 3. the overview explains the platform and links the lineage page
        browser.navigate("about:blank")  # a fresh load: the full-screen graph would stay open over the page
        browser.navigate(f"{served}#!/overview")
        browser.wait_for("document.body.innerText.includes('Where to start')", "the overview")
        assert browser.evaluate("!!document.querySelector('a[href=\"lineage.html\"]')")
        shots.append(browser.screenshot(artifacts_dir / "catalog_overview.png"))

        # 4. the column lineage page, reached through the overview's link, then fct_orders.is_otif by search
        browser.evaluate("document.querySelector('a[href=\"lineage.html\"]').click()")
        browser.wait_for("document.getElementById('list') && document.querySelectorAll('a.col').length > 100",
                         "the lineage page")
        browser.evaluate("const s = document.getElementById('search'); s.value = 'fct_orders is_otif';"
                         "s.dispatchEvent(new Event('input'))")
        listed = browser.evaluate("Array.from(document.querySelectorAll('a.col')).map(a => a.title)")
        assert listed == ["fct_orders.is_otif"], listed
        browser.evaluate("document.querySelector('a.col').click()")
        browser.wait_for("document.getElementById('detail').innerText.includes('fct_orders.is_otif')",
                         "the column's lineage")
        detail = browser.evaluate("document.getElementById('detail').innerText")
        for raw in ("raw_azureware.order_lines.qtyordered", "raw_azureware.order_lines.qtyshipped",
                    "raw_tms.shipments.delivered_at"):
            assert raw in detail, f"{raw} not named on the lineage page"
        assert re.search(r"stg_azureware__order_lines\.qty_shipped\s*staging", detail)
        shots.append(browser.screenshot(artifacts_dir / "catalog_lineage_is_otif.png"))

        # nothing was fetched from outside the local server
        outside = [u for u in browser.requests if not u.startswith((served, "data:", "about:"))]
        assert not outside, f"requests outside the local server: {outside}"
    for shot in shots:
        _assert_real_picture(shot)
