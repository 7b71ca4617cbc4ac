"""The API keeps to its own OpenAPI document: schemathesis against a real `livedesk api`
process, on PostgreSQL and on SQLite (their failures differed: asyncpg refused numbers past
64 bits where sqlite3 raised OverflowError, and only PostgreSQL refuses NUL characters),
each with either route for message posts (the fast one and FastAPI's alone).

Every operation, authenticated as the admin of an account made by `livedesk bootstrap`;
every phase (coverage's boundary values, random fuzzing both valid and invalid, stateful
sequences along the links inferred from the schema and the declared next-page links); every
check: no 5xx, each status and body as declared, invalid data refused, valid data taken.
Settings, and the two places where a check cannot hold and why: schemathesis.toml beside
this file; cursors are generated as the API makes them (tests/support/schema_hooks.py).
Bounded (20 examples per operation) and repeatable (a fixed seed, one worker).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from livedesk.shared.key_set import KeyRing
from livedesk.shared.tokens import Role, TokenSigner
from tests.support.backends import RunningApi

ROOT = Path(__file__).parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")


def sessionless_admin_token(api: RunningApi) -> str:
    """The admin's token without a session, signed with the API's key as tooling would:
    the run calls logout and revokes the admin's sessions, which would end a login's token
    and leave every later operation tested on 401s only."""
    ring = KeyRing(Path(api.env["LIVEDESK_DATA_DIR"]) / "keys", check_interval_s=3600)
    signer = TokenSigner(ring, issuer="livedesk", ttl_s=3600)
    return signer.issue(user_id=api.admin_id, account_id=api.account_id, role=Role.ADMIN)


# About 13 s per database on a quiet machine; two suites at once on two cores took over 50.
@pytest.mark.timeout(240)
def test_every_operation_keeps_to_the_schema(
    running_api_process: RunningApi, tmp_path: Path
) -> None:
    api = running_api_process
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),  # for the hooks module
        "LIVEDESK_SCHEMA_TEST_TOKEN": sessionless_admin_token(api),
    }
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("st")),
            "--config-file",
            str(CONFIG),
            "run",
            f"{api.url}/openapi.json",
            "--no-color",
        ],
        env=env,
        cwd=tmp_path,  # anything schemathesis writes stays in the test's directory
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-30_000:] + run.stderr[-5_000:]
    document = httpx.get(f"{api.url}/openapi.json", timeout=10).json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert f"Tested: {operations}\n" in run.stdout, run.stdout  # none skipped
