"""The container image, built for real with podman and smoke-tested from its file system.

Running containers does not work on every machine that can build them (crun may not set
rlimits in a sandbox), so the image is mounted and its programs run under chroot: the same
files, user and environment, without the container runtime. Builds take minutes: marked
`image` and left out of the default run (`pytest -m image tests/deploy`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.manifests import ROOT
from tests.support.api import postgres_database
from tests.support.ports import free_port

pytestmark = [pytest.mark.image, pytest.mark.timeout(1200)]

BASE = "localhost/livedesk-base:bookworm"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def podman(*args: str, timeout: float = 900) -> str:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout.strip()


@dataclass(frozen=True)
class Image:
    tag: str
    root: Path  # the image's file system, mounted

    def command(self, *argv: str, env: dict[str, str] | None = None) -> list[str]:
        """`argv` as the image's user, in its file system, with its environment."""
        environment = {"PATH": "/opt/livedesk/bin:/usr/bin:/bin", "HOME": "/var/lib/livedesk"}
        environment |= {"LIVEDESK_DATA_DIR": "/var/lib/livedesk", **(env or {})}
        settings = [f"{name}={value}" for name, value in environment.items()]
        return ["chroot", "--userspec=10001:10001", str(self.root), "env", "-i", *settings, *argv]


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    if os.geteuid() != 0 or not shutil.which("podman") or not shutil.which("debootstrap"):
        pytest.skip("needs root with podman and debootstrap (Debian packages)")
    if subprocess.run(["podman", "image", "exists", BASE], check=False).returncode != 0:
        subprocess.run(["bash", str(ROOT / "infra/docker/make-base.sh")], check=True, timeout=900)
    tag = f"localhost/livedesk:test-{uuid.uuid4().hex[:8]}"
    # The machine's CA bundle, for networks that intercept TLS (see the Dockerfile).
    podman(
        "build", "--isolation", "chroot", "--format", "docker",
        "--build-arg", f"BASE={BASE}",
        "--build-arg", f"PIP_CERT={CA_BUNDLE}", "--build-arg", f"SSL_CERT_FILE={CA_BUNDLE}",
        "--volume", "/etc/ssl/certs:/etc/ssl/certs:ro",
        "-f", str(ROOT / "infra/docker/Dockerfile"), "-t", tag, str(ROOT),
    )  # fmt: skip
    try:
        yield Image(tag, Path(podman("image", "mount", tag)))
    finally:
        podman("image", "unmount", tag)
        podman("rmi", "--force", tag)


def test_the_image_starts_the_api_as_an_unprivileged_user(image: Image) -> None:
    (inspected,) = json.loads(podman("image", "inspect", image.tag))
    config = inspected["Config"]
    assert config["User"] == "10001"
    assert config["Entrypoint"] == ["livedesk"]
    assert config["Cmd"][0] == "api"
    assert inspected["Healthcheck"]["Test"][0] == "CMD"
    assert not (image.root / "opt/livedesk/lib/python3.11/site-packages/bench").exists()


def test_the_command_line_runs_in_the_image(image: Image) -> None:
    done = subprocess.run(
        image.command("livedesk", "--help"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for command in ("api", "gateway", "presence", "migrate", "dev"):
        assert command in done.stdout


@contextmanager
def writable_data_dir(image: Image, directory: Path) -> Iterator[None]:
    """A writable /var/lib/livedesk over the read-only mount, as a container's volume is."""
    os.chown(directory, 10001, 10001)
    target = image.root / "var/lib/livedesk"
    subprocess.run(["mount", "--bind", str(directory), str(target)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_the_image_migrates_and_serves_against_loopback_postgresql(
    image: Image, postgres_url: str, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database(postgres_url))
        plain_url = database_url.replace("postgresql+asyncpg://", "postgresql://")
        env = {"LIVEDESK_DATABASE_URL": plain_url}
        migrate = subprocess.run(
            image.command("livedesk", "migrate", env=env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrate.returncode == 0, migrate.stderr
        port = free_port()
        stack.enter_context(writable_data_dir(image, tmp_path))
        api = subprocess.Popen(
            image.command("livedesk", "api", "--host", "127.0.0.1", "--port", str(port), env=env)
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                pytest.fail("the api in the image did not answer /healthz")
            api.send_signal(signal.SIGTERM)
            assert api.wait(timeout=30) == 0
        finally:
            api.kill()
