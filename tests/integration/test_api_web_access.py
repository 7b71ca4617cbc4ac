"""A real `livedesk api` as a browser and a scraper meet it: CORS for the listed origins only,
security headers on every answer and a CSP on the documentation pages that names no CDN and
allows no inline script beyond a hash, /metrics behind the metrics token, and the docs off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import ApiProcess, api_deployment
from tests.support.web import FOREIGN, LISTED, preflight, preflight_headers

TOKEN = "scrape-me"


@pytest.fixture(scope="module")
def api_url(
    postgres_url: str, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    web = {"LIVEDESK_ALLOWED_ORIGINS": LISTED, "LIVEDESK_METRICS_TOKEN": TOKEN}
    data_dir = tmp_path_factory.mktemp("api-web")
    with (
        api_deployment(postgres_url, amqp_url, data_dir, web) as deployment,
        ApiProcess(deployment.env) as api,
    ):
        yield api.url


@pytest.fixture
async def http(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        yield client


async def test_a_listed_origin_passes_the_cors_preflight_with_credentials(
    http: httpx.AsyncClient,
) -> None:
    answer = await preflight(http, "/v1/auth/token", LISTED)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == LISTED
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert "authorization" in answer.headers["access-control-allow-headers"].lower()
    # And the request itself carries the grant, refusal or not.
    login = await http.post(
        "/v1/auth/token",
        json={"email": "x@example.com", "password": "x"},
        headers={"Origin": LISTED},
    )
    assert login.status_code == 401
    assert login.headers["access-control-allow-origin"] == LISTED


async def test_another_origin_gets_no_cors_grant(http: httpx.AsyncClient) -> None:
    answer = await preflight(http, "/v1/auth/token", FOREIGN)
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers
    read = await http.get("/healthz", headers={"Origin": FOREIGN})
    assert "access-control-allow-origin" not in read.headers


async def test_every_answer_carries_the_security_headers(http: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/v1/conversations", "/nowhere"):
        answer = await http.get(path)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["referrer-policy"] == "no-referrer", path
        policy = answer.headers["content-security-policy"]
        assert policy == "default-src 'none'; frame-ancestors 'none'", path


@pytest.mark.parametrize(
    ("page", "asset"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
async def test_the_docs_pages_load_their_files_from_the_api_under_a_csp(
    http: httpx.AsyncClient, page: str, asset: str
) -> None:
    answer = await http.get(page)
    assert answer.status_code == 200
    assert f'src="/docs/assets/{asset}"' in answer.text
    assert "cdn.jsdelivr.net" not in answer.text
    policy = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src"))
    assert "unsafe-inline" not in script_src
    assert "http" not in script_src  # no other host
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert (await http.get(f"/docs/assets/{asset}")).status_code == 200
    assert (await http.get("/openapi.json")).status_code == 200


async def test_metrics_want_the_token(http: httpx.AsyncClient) -> None:
    refused = await http.get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["code"] == "not_authenticated"
    assert refused.headers["www-authenticate"] == "Bearer"
    wrong = await http.get("/metrics", headers={"Authorization": "Bearer not-it"})
    assert wrong.status_code == 401
    served = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert served.status_code == 200
    assert "livedesk_api_requests_total" in served.text


def test_docs_off_answer_404_and_no_listed_origin_grants_none(
    postgres_url: str, amqp_url: str, tmp_path: Path
) -> None:
    off = {"LIVEDESK_API__DOCS": "false"}
    with (
        api_deployment(postgres_url, amqp_url, tmp_path, off) as deployment,
        ApiProcess(deployment.env) as api,
        httpx.Client(base_url=api.url, timeout=10) as http,
    ):
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui-bundle.js"):
            assert http.get(path).status_code == 404, path
        assert http.get("/healthz").status_code == 200
        # The default: same origin only, so no other origin is granted anything.
        for origin in (FOREIGN, LISTED):
            answer = http.options("/v1/auth/token", headers=preflight_headers(origin))
            assert answer.status_code >= 400
            assert "access-control-allow-origin" not in answer.headers


async def test_the_inbox_page_is_served_with_its_csp_and_is_no_demo_unless_told(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/ui/inbox.js">' in page.text
    # `livedesk api` is a deployment: the page's demo panel stays hidden (standalone and
    # `livedesk dev` turn it on; tests/system/test_inbox_browser.py sees it there).
    config = await http.get("/inbox/config")
    assert config.status_code == 200
    assert config.json() == {"demo": False}
