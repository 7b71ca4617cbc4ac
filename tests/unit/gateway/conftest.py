from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gateway import Keys


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(Path(tmp_path_factory.mktemp("keys")))
