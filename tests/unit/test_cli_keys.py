"""`livedesk keys rotate|retire|list` as an operator runs it, errors included."""

from __future__ import annotations

from pathlib import Path

import pytest

from livedesk.cli.main import main
from livedesk.shared.key_set import read_key_set
from livedesk.shared.settings import TokenSettings
from livedesk.shared.tokens import KEY_ID, ensure_key_pair


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIVEDESK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LIVEDESK_TOKENS__KEY_DIR", raising=False)
    monkeypatch.delenv("LIVEDESK_TOKENS__PRIVATE_KEY_PATH", raising=False)
    return tmp_path


def test_rotate_list_retire(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "rotate"]) == 0  # an empty data dir: its first key
    first = capsys.readouterr().out.strip()
    assert main(["keys", "rotate"]) == 0
    out, err = capsys.readouterr()
    second = out.strip()
    ttl_s = TokenSettings().access_ttl_s
    assert f"retire older keys once tokens.access_ttl_s ({ttl_s} s) has passed" in err

    assert main(["keys", "list"]) == 0
    listed = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(row[0], row[2:]) for row in listed] == [(first, []), (second, ["current"])]

    assert main(["keys", "retire", first]) == 0
    assert set(read_key_set(data_dir / "keys").private) == {second}


def test_retiring_the_current_key_is_refused(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "rotate"]) == 0
    current = capsys.readouterr().out.strip()

    assert main(["keys", "retire", current]) == 1
    assert capsys.readouterr().err == (
        f"livedesk keys retire: {current} is the current signing key; rotate first, "
        "then retire it\n"
    )
    assert current in read_key_set(data_dir / "keys").private


def test_retiring_an_unknown_key_is_refused(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "rotate"]) == 0
    current = capsys.readouterr().out.strip()

    assert main(["keys", "retire", "no-such-kid"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("livedesk keys retire: no key named 'no-such-kid' in ")
    assert err.endswith(f"(there are: {current})\n")


def test_a_directory_without_keys_cannot_be_listed_or_retired_from(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "list"]) == 1
    assert "cannot read the key directory" in capsys.readouterr().err
    assert main(["keys", "retire", KEY_ID]) == 1


def test_a_single_key_file_cannot_rotate(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    private, _ = ensure_key_pair(data_dir / "single")
    monkeypatch.setenv("LIVEDESK_TOKENS__PRIVATE_KEY_PATH", str(private))

    assert main(["keys", "rotate"]) == 1
    assert "tokens.private_key_path), which cannot rotate" in capsys.readouterr().err
    assert main(["keys", "--key-dir", str(data_dir / "elsewhere"), "rotate"]) == 0


def test_retire_needs_a_kid(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["keys", "retire"])
    assert usage.value.code == 2
    assert "the following arguments are required: kid" in capsys.readouterr().err
