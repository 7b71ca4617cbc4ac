"""The agents' inbox page, served by the API at `/` in every mode (standalone, `livedesk dev`,
compose and Kubernetes all put the API behind the page's origin).

    /              the page                 /ui/...      its modules and stylesheet
    /inbox/config  what the page cannot know by itself: whether this is a demo (standalone,
                   `livedesk dev`), which shows the panel that plays customers
    /static/       client/ is clients/js built by `npm run build:page` (committed, so that a
                   machine with only Python serves it)

The page talks to the REST API and the socket of its own origin only, so its CSP allows its
own files and nothing inline. Not here: the socket (`/ws`), which is a gateway's.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from livedesk.shared.web_headers import CSP, page_policy

PAGE_POLICY: Final = page_policy(img="data:")


def mount_inbox(app: FastAPI, *, demo: bool) -> None:
    here = files(__name__)
    page = here.joinpath("ui", "index.html").read_text(encoding="utf-8")
    app.mount("/ui", StaticFiles(packages=[(__name__, "ui")]), name="ui")
    app.mount("/static", StaticFiles(packages=[(__name__, "static")]), name="static")

    @app.get("/", include_in_schema=False)
    async def inbox() -> HTMLResponse:
        return HTMLResponse(page, headers={CSP: PAGE_POLICY})

    @app.get("/inbox/config", include_in_schema=False)
    async def inbox_config() -> dict[str, bool]:
        # Open, like the page itself: it says nothing about any account.
        return {"demo": demo}
