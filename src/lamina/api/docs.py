"""``/docs`` and ``/redoc`` from assets installed with the package: no CDN, so they work on a
machine without internet or behind a strict proxy.

FastAPI's pages load Swagger UI and ReDoc from a CDN. :func:`serve_docs_offline`
(called by :func:`lamina.api.install`) re-mounts them on the copies the
``fastapi-offline`` package ships (MIT; Swagger UI and ReDoc under their own
licences), served under ``/_lamina/docs/``, and the security headers then
allow nothing but the app's own origin on those pages.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route
from starlette.staticfiles import StaticFiles

ASSETS_PATH = "/_lamina/docs"
"""Where the Swagger UI and ReDoc assets are served."""

DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
"""The pages' policy: their own assets and inline start-up script, nothing from elsewhere."""


def serve_docs_offline(app: FastAPI) -> None:
    """Serve the app's ``docs_url`` and ``redoc_url`` pages from local assets (none if off)."""
    if not (app.docs_url or app.redoc_url):
        return
    assets = str(files("fastapi_offline") / "static")
    root = app.root_path.rstrip("/")
    replaced = {app.docs_url, app.redoc_url}
    app.router.routes[:] = [r for r in app.router.routes if not _is_page(r, replaced)]
    app.mount(ASSETS_PATH, StaticFiles(directory=assets), name="lamina_docs_assets")
    title = app.title

    if app.docs_url:
        oauth2_redirect = app.swagger_ui_oauth2_redirect_url

        async def swagger_ui(request: Request) -> HTMLResponse:
            base = request.scope.get("root_path", root).rstrip("/")
            return get_swagger_ui_html(
                openapi_url=f"{base}{app.openapi_url}",
                title=f"{title} - Swagger UI",
                oauth2_redirect_url=f"{base}{oauth2_redirect}" if oauth2_redirect else None,
                swagger_js_url=f"{base}{ASSETS_PATH}/swagger-ui-bundle.js",
                swagger_css_url=f"{base}{ASSETS_PATH}/swagger-ui.css",
                swagger_favicon_url=f"{base}{ASSETS_PATH}/favicon.png",
                init_oauth=app.swagger_ui_init_oauth,
                # no badge from validator.swagger.io: nothing leaves the page
                swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
            )

        app.add_route(app.docs_url, swagger_ui, include_in_schema=False)

    if app.redoc_url:

        async def redoc(request: Request) -> HTMLResponse:
            base = request.scope.get("root_path", root).rstrip("/")
            return get_redoc_html(
                openapi_url=f"{base}{app.openapi_url}",
                title=f"{title} - ReDoc",
                redoc_js_url=f"{base}{ASSETS_PATH}/redoc.standalone.js",
                redoc_favicon_url=f"{base}{ASSETS_PATH}/favicon.png",
                with_google_fonts=False,
            )

        app.add_route(app.redoc_url, redoc, include_in_schema=False)


def _is_page(route: BaseRoute, paths: set[str | None]) -> bool:
    return isinstance(route, Route) and route.path in paths
