"""The web console: server-rendered pages (Jinja2, HTMX) served by `nimplane serve` at `/`,
over the same services and permission checks as the API (`routes.py`), with a cookie session
and CSRF tokens (`session.py`) and presentation helpers (`views.py`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def install_console(app: FastAPI) -> None:
    """Add the console's pages and its static files (`/static`) to the app."""
    from nimplane.console.routes import router

    app.router.routes.extend(router.routes)
    app.mount("/static", StaticFiles(directory=STATIC), name="console-static")
