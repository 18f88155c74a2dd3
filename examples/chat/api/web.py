"""The web client at ``/``: a page and its ES modules from ``examples/chat/web`` (no build step).

Its page carries its own Content-Security-Policy: scripts, styles and connections
from this origin only (the API's responses keep the stricter one).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parent.parent / "web"
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def mount_web_client(app: FastAPI) -> None:
    """Serve the client: ``GET /`` (the page) and ``/web/*`` (its scripts and styles)."""

    async def page() -> FileResponse:
        return FileResponse(WEB / "index.html", headers={"Content-Security-Policy": PAGE_POLICY})

    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.mount("/web", StaticFiles(directory=WEB), name="web")
