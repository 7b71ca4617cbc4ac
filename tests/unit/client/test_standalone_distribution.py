"""livedesk-client is installed alone by external users: it must not need the server's code."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

CLIENT = Path(__file__).parents[3] / "clients" / "python"


def test_the_client_imports_with_livedesk_absent() -> None:
    # `sys.modules[name] = None` makes any import of that package fail at once.
    code = (
        "import sys, pkgutil, importlib; sys.modules['livedesk'] = None; "
        "import livedesk_client; "
        "[importlib.import_module(m.name) for m in "
        "pkgutil.walk_packages(livedesk_client.__path__, 'livedesk_client.')]"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_client_depends_on_websockets_and_httpx_only() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    assert sorted(d.split(">")[0] for d in project["dependencies"]) == ["httpx", "websockets"]
    assert (CLIENT / "src" / "livedesk_client" / "py.typed").exists()
