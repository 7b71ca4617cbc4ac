"""Logging in under attack: throttling per e-mail and per client address (in memory and in
Redis), the bounded hash pool, rehashing, and e-mails shared by accounts without a hint.

The app runs in process on real PostgreSQL; each client is given the address it comes from
(the transport's peer), as uvicorn would give the socket's.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from livedesk.api.models import User
from livedesk.shared.bus.memory import MemoryBus
from livedesk.shared.settings import Settings
from tests.support.api import (
    PASSWORD,
    InProcessApi,
    admin_email,
    api_settings,
    bearer,
    in_process_api,
    login,
)

TOKEN = "/v1/auth/token"
LOOPBACK_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> str:
    if url := os.environ.get("LIVEDESK_TEST_REDIS_URL"):
        return url
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", 6379)) != 0:
            pytest.skip("no Redis on 127.0.0.1:6379 and no LIVEDESK_TEST_REDIS_URL")
    return LOOPBACK_REDIS_URL


@pytest.fixture(params=["memory", "redis"])
def throttle_storage(request: pytest.FixtureRequest) -> str | None:
    """Where the throttle counts: None (memory) or a Redis URL."""
    return None if request.param == "memory" else str(request.getfixturevalue("redis_url"))


Start = Callable[..., AbstractAsyncContextManager[InProcessApi]]


@pytest.fixture
def start(database: tuple[str, list[int]], tmp_path: Path) -> Start:
    """Starts the app on the test's database with these API settings (and `redis_url`)."""

    @asynccontextmanager
    async def started(redis_url: str | None = None, **api: Any) -> AsyncIterator[InProcessApi]:
        settings = api_settings(database[0], tmp_path, **api)
        settings = Settings(**{**settings.model_dump(), "redis_url": redis_url})
        async with in_process_api(settings, MemoryBus()) as app:
            yield app

    return started


def unique_address() -> str:
    """An address no other test (nor another run on the same Redis) counts against."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


@asynccontextmanager
async def client_from(app: InProcessApi, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def add_agent(app: InProcessApi, admin: str, email: str, password: str = PASSWORD) -> int:
    body = {"email": email, "password": password, "name": "Agent"}
    made = await app.client.post("/v1/agents", json=body, headers=bearer(admin))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def fresh_email() -> str:
    return f"agent-{uuid.uuid4().hex[:8]}@acme.example.org"


def assert_retry_later(response: httpx.Response, status: int, code: str) -> int:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    wait = int(response.headers["Retry-After"])
    assert wait >= 1
    return wait


async def test_wrong_passwords_for_one_email_get_429_and_others_still_log_in(
    start: Start, throttle_storage: str | None
) -> None:
    async with start(
        throttle_storage,
        login_failures_per_email="3/minute;6/hour",
        login_failures_per_address="100/minute",
    ) as app:
        admin = await login(app.client, admin_email(0))
        victim, other = fresh_email(), fresh_email()
        await add_agent(app, admin, victim)
        await add_agent(app, admin, other)
        guess = {"email": victim, "password": "not the password"}
        async with client_from(app, unique_address()) as attacker:
            answers = [await attacker.post(TOKEN, json=guess) for _ in range(5)]
            assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
            assert_retry_later(answers[3], 429, "too_many_attempts")
            # Once throttled, even the right password waits: the guesser cannot tell.
            right = {"email": victim, "password": PASSWORD}
            assert_retry_later(await attacker.post(TOKEN, json=right), 429, "too_many_attempts")
            # The address itself is not throttled: another e-mail logs in from it.
            mine = await attacker.post(TOKEN, json={"email": other, "password": PASSWORD})
            assert mine.status_code == 200, mine.text
        async with client_from(app, unique_address()) as elsewhere:
            theirs = await elsewhere.post(TOKEN, json={"email": other, "password": PASSWORD})
            assert theirs.status_code == 200, theirs.text


async def test_wrong_passwords_from_one_address_get_429_and_other_addresses_still_log_in(
    start: Start, throttle_storage: str | None
) -> None:
    async with start(
        throttle_storage,
        login_failures_per_email="100/minute",
        login_failures_per_address="4/minute;8/hour",
    ) as app:
        admin = await login(app.client, admin_email(0))
        agent = fresh_email()
        await add_agent(app, admin, agent)
        async with client_from(app, unique_address()) as attacker:
            # A spray: one guess each for many e-mails, known or not.
            statuses = [
                (
                    await attacker.post(TOKEN, json={"email": fresh_email(), "password": "guess"})
                ).status_code
                for _ in range(6)
            ]
            assert statuses == [401] * 4 + [429] * 2
            throttled = await attacker.post(TOKEN, json={"email": agent, "password": PASSWORD})
            assert_retry_later(throttled, 429, "too_many_attempts")
        async with client_from(app, unique_address()) as colleague:
            fine = await colleague.post(TOKEN, json={"email": agent, "password": PASSWORD})
            assert fine.status_code == 200, fine.text


async def test_a_successful_login_is_not_counted_as_a_failure(start: Start) -> None:
    async with start(login_failures_per_email="3/minute") as app:
        admin = await login(app.client, admin_email(0))
        agent = fresh_email()
        await add_agent(app, admin, agent)
        wrong = {"email": agent, "password": "typo typo"}
        right = {"email": agent, "password": PASSWORD}
        async with client_from(app, unique_address()) as user:
            statuses = [
                (await user.post(TOKEN, json=body)).status_code
                for body in (wrong, right, wrong, right, right, wrong, right)
            ]
        # Seven attempts, three of them failures: the third spends the tier, no sooner.
        assert statuses == [401, 200, 401, 200, 200, 401, 429]


async def test_the_wait_grows_tier_by_tier(start: Start, throttle_storage: str | None) -> None:
    async with start(throttle_storage, login_failures_per_email="2/2 seconds;3/hour") as app:
        guess = {"email": fresh_email(), "password": "guess"}
        async with client_from(app, unique_address()) as attacker:
            for _ in range(2):
                assert (await attacker.post(TOKEN, json=guess)).status_code == 401
            short = assert_retry_later(
                await attacker.post(TOKEN, json=guess), 429, "too_many_attempts"
            )
            assert short <= 2
            await asyncio.sleep(short + 0.1)  # waits out the first tier, as a client would
            assert (await attacker.post(TOKEN, json=guess)).status_code == 401
            long = assert_retry_later(
                await attacker.post(TOKEN, json=guess), 429, "too_many_attempts"
            )
            assert long > 60


async def test_forwarded_for_names_the_client_only_behind_a_trusted_proxy(start: Start) -> None:
    proxy = unique_address()
    async with start(
        login_failures_per_email="100/minute",
        login_failures_per_address="2/minute",
        trusted_proxies=(proxy,),
    ) as app:

        async def guess(client: httpx.AsyncClient, forwarded: str) -> int:
            body = {"email": fresh_email(), "password": "guess"}
            answer = await client.post(TOKEN, json=body, headers={"X-Forwarded-For": forwarded})
            return answer.status_code

        one, two = unique_address(), unique_address()
        async with client_from(app, proxy) as behind_proxy:
            assert [await guess(behind_proxy, one) for _ in range(3)] == [401, 401, 429]
            assert await guess(behind_proxy, two) == 401  # another client behind the proxy
        async with client_from(app, unique_address()) as direct:
            # Not a trusted proxy: what it forwards is ignored, the peer is counted.
            assert [await guess(direct, unique_address()) for _ in range(3)] == [401, 401, 429]


async def test_a_full_hash_pool_answers_503_with_retry_after(start: Start) -> None:
    # Hashes slow enough to overlap; one at a time and none waiting.
    async with start(
        password_memory_kib=16 * 1024, password_hash_concurrency=1, password_hash_queue=0
    ) as app:
        body = {"email": admin_email(0), "password": PASSWORD}
        answers = await asyncio.gather(*(app.client.post(TOKEN, json=body) for _ in range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 200
    assert 503 in statuses
    assert set(statuses) == {200, 503}
    for answer in answers:
        if answer.status_code == 503:
            assert_retry_later(answer, 503, "overloaded")


async def stored_hash(app: InProcessApi, email: str) -> str:
    async with app.context.engine.connect() as connection:
        found = await connection.execute(
            select(col(User.password_hash)).where(col(User.email) == email)
        )
        return str(found.scalar_one())


async def test_a_login_rehashes_when_the_cost_settings_changed(start: Start) -> None:
    email = admin_email(0)
    async with start() as app:  # the tests' cost: t=1, m=8
        before = await stored_hash(app, email)
        await login(app.client, email)
        assert await stored_hash(app, email) == before  # same cost: left alone
    async with start(password_time_cost=2, password_memory_kib=16) as app:
        await login(app.client, email)
        after = await stored_hash(app, email)
        assert "m=16,t=2" in after
        assert "m=8,t=1" in before
        await login(app.client, email)  # the new hash verifies, and is kept
        assert await stored_hash(app, email) == after
        wrong = await app.client.post(TOKEN, json={"email": email, "password": "wrong one"})
        assert wrong.status_code == 401


async def test_adding_an_agent_whose_email_is_in_another_account_reveals_nothing(
    start: Start,
) -> None:
    async with start() as app:
        first, second = [await login(app.client, admin_email(n)) for n in (0, 1)]
        taken_elsewhere, fresh = fresh_email(), fresh_email()
        await add_agent(app, first, taken_elsewhere)
        answers = [
            await app.client.post(
                "/v1/agents",
                json={"email": email, "password": PASSWORD, "name": "Agent"},
                headers=bearer(second),
            )
            for email in (taken_elsewhere, fresh)
        ]
        assert [a.status_code for a in answers] == [201, 201]
        assert answers[0].json().keys() == answers[1].json().keys()
        assert answers[0].json()["email"] == taken_elsewhere
        # In its own account an address is still taken once.
        again = await app.client.post(
            "/v1/agents",
            json={"email": taken_elsewhere, "password": PASSWORD, "name": "Again"},
            headers=bearer(first),
        )
        assert again.status_code == 409, again.text


async def test_a_login_names_its_account_or_gets_the_emails_first(
    start: Start, database: tuple[str, list[int]]
) -> None:
    first_account, second_account = database[1]
    async with start() as app:
        first, second = [await login(app.client, admin_email(n)) for n in (0, 1)]
        shared = fresh_email()
        first_id = await add_agent(app, first, shared, PASSWORD)
        second_id = await add_agent(app, second, shared, "another password")

        async def token_for(**body: Any) -> tuple[int, dict[str, Any]]:
            answer = await app.client.post(TOKEN, json={"email": shared, **body})
            return answer.status_code, answer.json()

        def who(token: str) -> tuple[int, int]:
            claims = app.context.verifier.verify(token)
            return claims.account_id, claims.user_id

        status, body = await token_for(password=PASSWORD)
        assert status == 200
        assert who(body["access_token"]) == (first_account, first_id)
        status, body = await token_for(password="another password", account_id=second_account)
        assert status == 200
        assert who(body["access_token"]) == (second_account, second_id)
        # The second account's password without naming it: wrong for the first, a plain 401.
        status, body = await token_for(password="another password")
        assert (status, body["code"]) == (401, "invalid_credentials")
        # An account the e-mail is not in answers as a wrong password does.
        status, body = await token_for(password=PASSWORD, account_id=second_account + 10_000)
        assert (status, body["code"]) == (401, "invalid_credentials")


async def test_logins_are_refused_while_the_throttles_redis_is_away(start: Start) -> None:
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with start(f"redis://127.0.0.1:{port}/0") as app:
        body = {"email": admin_email(0), "password": PASSWORD}
        answer = await app.client.post(TOKEN, json=body)
    # Not let through uncounted, and not a 500: a refusal that says when to try again.
    assert_retry_later(answer, 503, "unavailable")
