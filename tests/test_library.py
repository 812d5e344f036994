"""Finding sessions by name: user folders, RELAXPLAYER_PATH, shadowing, suggestions, starters."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from relaxplayer import library
from relaxplayer.errors import ConfigError
from relaxplayer.loader import load_session


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    config, extra = tmp_path / "config", tmp_path / "extra"
    monkeypatch.setenv("RELAXPLAYER_CONFIG", str(config))
    monkeypatch.setenv("RELAXPLAYER_PATH", str(extra))
    (config / "sessions").mkdir(parents=True)
    extra.mkdir()
    return config / "sessions", extra


def test_builtins_are_found_by_name() -> None:
    entry = library.find("back-relief")
    assert (
        entry.origin == "builtin" and entry.path.name == "back-relief.yaml" and entry.path.is_file()
    )


def test_paths_are_used_as_given(tmp_path: Path) -> None:
    entry = library.find(str(tmp_path / "mine.yaml"))
    assert entry.origin == "path" and entry.path == tmp_path / "mine.yaml"


def test_user_session_shadows_a_builtin(dirs: tuple[Path, Path]) -> None:
    user, _ = dirs
    (user / "box-breathing.yaml").write_text("title: Mine\nsteps:\n  - pause: 1s\n")
    entry = library.find("box-breathing")
    assert entry.origin == "user" and entry.path == user / "box-breathing.yaml"
    assert entry.shadowed is not None and entry.shadowed.name == "box-breathing.yaml"


def test_relaxplayer_path_is_searched_after_the_user_folder(dirs: tuple[Path, Path]) -> None:
    user, extra = dirs
    (extra / "nap.yaml").write_text("title: Extra\nsteps:\n  - pause: 1s\n")
    assert library.find("nap").path == extra / "nap.yaml"
    (user / "nap.yaml").write_text("title: User\nsteps:\n  - pause: 1s\n")
    assert library.find("nap").path == user / "nap.yaml"
    names = [e.name for e in library.list_sessions()]
    assert names == sorted(names) and names.count("nap") == 1


def test_unknown_names_get_suggestions() -> None:
    with pytest.raises(ConfigError) as info:
        library.find("box-breath")
    assert (
        str(info.value)
        == "no session named 'box-breath'; did you mean box-breathing, coherent-breathing? (`relaxplayer list` shows them all)"
    )


def test_new_session_is_valid_and_atomic(dirs: tuple[Path, Path]) -> None:
    user, _ = dirs
    path = library.new_session("evening-stretch")
    assert path == user / "evening-stretch.yaml"
    assert yaml.safe_load(path.read_text())["title"] == "Evening stretch"
    assert load_session(path).title == "Evening stretch"
    assert not list(user.glob(".*"))
    with pytest.raises(ConfigError, match="already exists; use --force to replace it"):
        library.new_session("evening-stretch")
    with pytest.raises(ConfigError, match="is not a session name"):
        library.new_session("../escape")
