"""/docs (Swagger UI) and /redoc, served with their files from the API itself, or not at all.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, which fails offline and would have
to be named in the pages' CSP. Here the files come from the `fastapi-offline` package under
/docs/assets, and each page's CSP allows its own origin plus a hash of the one inline script
FastAPI's Swagger page has. ReDoc styles itself with inline `<style>` and runs its search in
a blob: worker, so both pages allow inline styles and blob: workers; no page allows inline
script beyond that hash. With `api.docs` off (production), /docs, /redoc and /openapi.json
are simply not routes: 404. Not here: the OpenAPI document itself (openapi.py).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from livedesk.shared.web_headers import CSP, page_policy

OPENAPI_URL: Final = "/openapi.json"
ASSETS_URL: Final = "/docs/assets"
ASSETS_DIR: Final = Path(str(files("fastapi_offline").joinpath("static")))


def openapi_url(docs: bool) -> str | None:
    """FastAPI's `openapi_url`: None leaves /openapi.json unrouted."""
    return OPENAPI_URL if docs else None


def install_docs(app: FastAPI) -> None:
    """Route /docs, /redoc and their files; the app was made with docs_url=redoc_url=None."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{OPENAPI_URL}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=None,  # no OAuth flow: bearer tokens are pasted
        )
        return _with_policy(page)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{OPENAPI_URL}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        return _with_policy(page)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    html = bytes(page.body).decode()
    page.headers[CSP] = page_policy(style="'unsafe-inline'", img="data:", worker="blob:", html=html)
    return page
