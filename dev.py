#!/usr/bin/env python3
"""The project's entry point on a fresh machine: needs only Python 3.11+.

`python3 dev.py standalone` runs the system; `python3 dev.py check` runs every check (ruff, mypy
--strict, the whole test suite). Anything else is passed to `livedesk` inside the environment.

It installs uv into `.tools/` when the machine has none, then lets uv build `.venv` from the lock
file, so a clean clone needs nothing but Python and the package registry. Standard library only:
this runs before any dependency exists.
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


def find_uv() -> list[str]:
    """The uv command: on PATH, in .tools, or installed into .tools now."""
    if found := shutil.which("uv"):
        return [found]
    local = TOOLS / "bin" / "uv"
    if not local.exists():
        print("dev.py: installing uv into .tools/", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        subprocess.run(
            [str(TOOLS / "bin" / "python"), "-m", "pip", "install", "-q", "uv"], check=True
        )
    return [str(local)]


def run(command: list[str]) -> int:
    print("+", " ".join(command), file=sys.stderr, flush=True)
    return subprocess.run(command, cwd=ROOT).returncode


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
        steps = [
            ["ruff", "check", "."],
            ["ruff", "format", "--check", "."],
            ["mypy"],
            ["pytest", *argv[1:]],
        ]
        for step in steps:
            if (code := run([*in_env, *step])) != 0:
                return code
        return 0
    if argv[:1] == ["test"]:
        return run([*in_env, "pytest", *argv[1:]])
    return run([*in_env, "livedesk", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
