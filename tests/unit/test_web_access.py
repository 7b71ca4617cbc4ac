"""The web access rules every service shares: origins, /metrics, security headers."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from livedesk.shared.metrics_access import MetricsAccess, metrics_access
from livedesk.shared.origins import normalize_origin, origin_allowed, parse_origins
from livedesk.shared.settings import Settings
from livedesk.shared.web_headers import CSP, SecurityHeaders, page_policy

LISTED = ("https://inbox.example.com", "http://localhost:3000")


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, "api.example.com", True),  # not a browser
        ("https://api.example.com", "api.example.com", True),
        ("https://api.example.com", "API.example.com:443", True),  # the default port
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://[::1]:8000", "[::1]:8000", True),
        ("https://inbox.example.com/", "api.example.com", True),  # listed
        ("http://localhost:3000", "api.example.com", True),
        ("https://evil.example", "api.example.com", False),
        ("http://127.0.0.1:8001", "127.0.0.1:8000", False),  # another port
        ("https://api.example.com", "api.example.com:8443", False),
        ("http://api.example.com.evil.example", "api.example.com", False),
        ("null", "api.example.com", False),
        ("not an origin", "api.example.com", False),
        ("https://api.example.com", None, False),  # no Host to be the same as
        ("https://api.example.com", "bad:port:x", False),
    ],
)
def test_origin_rule(origin: str | None, host: str | None, allowed: bool) -> None:
    assert origin_allowed(origin, host, LISTED) is allowed


def test_allowed_origins_come_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVEDESK_ALLOWED_ORIGINS", "HTTPS://Inbox.Example.com:443/, http://a:81")
    assert Settings().allowed_origins == ("https://inbox.example.com", "http://a:81")
    monkeypatch.setenv("LIVEDESK_ALLOWED_ORIGINS", "")
    assert Settings().allowed_origins == ()


@pytest.mark.parametrize(
    "bad", ["inbox.example.com", "ftp://x", "https://x/path", "https://u@x", "http://x:99999"]
)
def test_a_listed_origin_that_is_not_one_is_refused_at_start(bad: str) -> None:
    with pytest.raises(ValidationError, match="allowed_origins"):
        Settings(allowed_origins=bad)
    with pytest.raises(ValueError, match=r"origin|Port"):
        normalize_origin(bad)


def test_parse_origins_takes_a_list_too() -> None:
    assert parse_origins(["http://a", " "]) == ("http://a",)


TOKEN = SecretStr("scrape-me")


@pytest.mark.parametrize(
    ("authorization", "client", "token", "access"),
    [
        (None, "127.0.0.1", None, MetricsAccess.ALLOWED),
        (None, "::1", None, MetricsAccess.ALLOWED),
        (None, "::ffff:127.0.0.1", None, MetricsAccess.ALLOWED),
        (None, "10.0.0.7", None, MetricsAccess.NOT_LOOPBACK),
        (None, None, None, MetricsAccess.NOT_LOOPBACK),
        (None, "127.0.0.1", TOKEN, MetricsAccess.NO_TOKEN),  # a token binds loopback too
        ("Bearer scrape-me", "10.0.0.7", TOKEN, MetricsAccess.ALLOWED),
        ("bearer scrape-me", "10.0.0.7", TOKEN, MetricsAccess.ALLOWED),
        ("Bearer scrape-m", "10.0.0.7", TOKEN, MetricsAccess.NO_TOKEN),
        ("Basic scrape-me", "10.0.0.7", TOKEN, MetricsAccess.NO_TOKEN),
    ],
)
def test_metrics_rule(
    authorization: str | None, client: str | None, token: SecretStr | None, access: MetricsAccess
) -> None:
    assert metrics_access(authorization, client, token) is access


def test_a_page_policy_allows_its_inline_script_by_hash_only() -> None:
    policy = page_policy(html="<p><script>go()</script></p>")
    digest = base64.b64encode(hashlib.sha256(b"go()").digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


async def test_security_headers_keep_a_page_s_own_policy() -> None:
    async def page(_: Request) -> HTMLResponse:
        return HTMLResponse("<p>page</p>", headers={CSP: "default-src 'self'"})

    async def api(_: Request) -> JSONResponse:
        return JSONResponse({})

    app = SecurityHeaders(Starlette(routes=[Route("/page", page), Route("/api", api)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http:
        answered = await http.get("/page")
        assert answered.headers.get_list(CSP) == ["default-src 'self'"]
        plain = await http.get("/api")
        assert plain.headers[CSP] == "default-src 'none'; frame-ancestors 'none'"
        for response in (answered, plain):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["x-frame-options"] == "DENY"
