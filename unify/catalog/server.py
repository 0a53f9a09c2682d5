"""A static HTTP server for the catalog: the dbt docs site and the lineage page in the target folder,
and beside them, at /dashboards/, the dashboards' local preview (unify/dashboards/preview.py's pages).

The stdlib's ThreadingHTTPServer with SimpleHTTPRequestHandler rooted at the folder (what
`dbt docs serve` does too, without changing the working directory or opening a browser); paths under
/dashboards/ are served from the preview's folder (<UNIFY_HOME>/dashboards unless told otherwise). It
binds 127.0.0.1 unless told otherwise: the catalog describes every table and column of the warehouse,
and the preview pages hold a person's figures, so neither is published to the network by accident.
"""

from __future__ import annotations

import functools
import logging
import posixpath
import urllib.parse
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8080
REQUIRED = ("index.html", "manifest.json")
DASHBOARDS_PREFIX = "/dashboards/"


class CatalogServerError(Exception):
    """The catalog cannot be served: the folder lacks the docs, or the address is taken."""


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".json": "application/json"}

    def __init__(self, *args, dashboards: Path | None = None, **kwargs) -> None:
        self.dashboards = dashboards
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        """/dashboards/... comes from the preview's folder; everything else from the catalog's."""
        clean = urllib.parse.unquote(path.split("?", 1)[0].split("#", 1)[0])
        if self.dashboards is not None and (clean + "/").startswith(DASHBOARDS_PREFIX):
            parts = [p for p in posixpath.normpath(clean[len(DASHBOARDS_PREFIX):]).split("/")
                     if p and p not in (".", "..")]
            return str(self.dashboards.joinpath(*parts))
        return super().translate_path(path)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s %s", self.address_string(), format % args)

    def end_headers(self) -> None:
        # The artifacts change with every `docs generate`: never serve a stale manifest from cache.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@dataclass
class CatalogServer:
    """A running server; `url` is where the docs site is. Stop it with `close()`."""

    httpd: ThreadingHTTPServer
    folder: Path
    dashboards: Path | None = None

    @property
    def host(self) -> str:
        return self.httpd.server_address[0]

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever()


def check_folder(folder: Path) -> list[str]:
    """Raise when the docs site is missing; return warnings (e.g. no lineage page yet)."""
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise CatalogServerError(
            f"{folder} has no {', '.join(missing)}: generate the catalog first "
            f"(`unify docs generate`, or `make demo`, which ends with it)")
    warnings = []
    if not (folder / "catalog.json").is_file():
        warnings.append(f"{folder}/catalog.json is missing: the docs will show no column types")
    if not (folder / "lineage.html").is_file():
        warnings.append(f"{folder}/lineage.html is missing: run `unify docs lineage` to add the column lineage page")
    return warnings


def default_dashboards_folder() -> Path:
    """Where `unify dashboards` writes its pages: <UNIFY_HOME>/dashboards."""
    from loaders.config import load_settings
    from unify.dashboards.preview import default_out_dir

    return default_out_dir(load_settings())


def open_server(folder: Path, host: str = LOOPBACK, port: int = DEFAULT_PORT,
                dashboards: Path | None = None) -> CatalogServer:
    """Bind the server (port 0 = any free port); it serves once `serve_forever` runs. The dashboards'
    preview is served at /dashboards/ from `dashboards` (default: where `unify dashboards` writes)."""
    folder = Path(folder).resolve()
    dashboards = Path(dashboards or default_dashboards_folder()).resolve()
    handler = functools.partial(_QuietHandler, directory=str(folder), dashboards=dashboards)
    try:
        httpd = ThreadingHTTPServer((host, port), handler)
    except OSError as err:
        raise CatalogServerError(f"cannot listen on {host}:{port}: {err.strerror or err}"
                                 + ("; choose another with --port" if port else "")) from None
    httpd.daemon_threads = True
    server = CatalogServer(httpd, folder, dashboards)
    if (dashboards / "index.html").is_file():
        log.info("dashboards' preview: %sdashboards/ (from %s)", server.url, dashboards)
    else:
        log.info("no dashboards' preview in %s yet: `unify dashboards --as <person>` renders one, then it is "
                 "served at %sdashboards/", dashboards, server.url)
    return server
