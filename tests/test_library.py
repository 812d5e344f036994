"""Finding sessions by name: user folders, RELAXPLAYER_PATH, shadowing, suggestions, starters."""

from __future__ import annotations

import os
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


def test_an_existing_file_is_a_path_even_without_a_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "back-relief").write_text("title: Here\nsteps:\n  - pause: 1s\n")
    monkeypatch.chdir(tmp_path)
    entry = library.find("back-relief")
    assert entry.origin == "path" and entry.path == Path("back-relief")


def test_relaxplayer_path_folders_keep_their_order(
    dirs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, extra = dirs
    later = tmp_path / "later"
    later.mkdir()
    monkeypatch.setenv("RELAXPLAYER_PATH", os.pathsep.join([str(extra), "", str(later)]))
    assert library.user_dirs() == [user, extra, later]
    (later / "nap.yaml").write_text("title: Later\nsteps:\n  - pause: 1s\n")
    assert library.find("nap").path == later / "nap.yaml"
    (extra / "nap.yml").write_text("title: Earlier\nsteps:\n  - pause: 1s\n")
    assert library.find("nap").path == extra / "nap.yml"


def test_list_reports_what_a_user_session_shadows(dirs: tuple[Path, Path]) -> None:
    user, _ = dirs
    (user / "default.yaml").write_text("title: Mine\nsteps:\n  - pause: 1s\n")
    (user / "notes.txt").write_text("not a session")
    entries = {e.name: e for e in library.list_sessions()}
    assert entries["default"].origin == "user"
    assert entries["default"].shadowed == library.builtin_dir() / "default.yaml"
    assert (
        entries["box-breathing"].origin == "builtin" and entries["box-breathing"].shadowed is None
    )
    assert "notes" not in entries


def test_far_off_names_get_no_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        library.find("zzzz")
    assert str(info.value) == "no session named 'zzzz' (`relaxplayer list` shows them all)"


def test_starter_shows_every_common_key() -> None:
    data = yaml.safe_load(library.starter_text("wind-down"))
    assert {"title", "description", "tags", "voice", "narration", "background", "end"} <= set(data)
    kinds = {next(iter(step)) for step in data["steps"]}
    assert kinds == {"section", "say", "bell", "pause", "breathe", "timer"}


def test_force_replaces_an_edited_session(dirs: tuple[Path, Path]) -> None:
    user, _ = dirs
    path = library.new_session("wind-down")
    assert path.parent == user
    path.write_text("title: Edited\nsteps:\n  - pause: 1s\n")
    assert library.new_session("wind-down", force=True) == path
    assert yaml.safe_load(path.read_text())["title"] == "Wind down"


def test_new_session_into_a_given_folder(tmp_path: Path) -> None:
    path = library.new_session("at-lunch", folder=tmp_path / "deep" / "folder")
    assert path == tmp_path / "deep" / "folder" / "at-lunch.yaml" and path.is_file()
    for bad in ("", "Upper", "-dash", "with space", "x" * 65, "dot.yaml"):
        with pytest.raises(ConfigError, match="is not a session name"):
            library.new_session(bad, folder=tmp_path)


def test_unusable_names_are_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        library.find("~nosuchuser/x")
    assert str(info.value) == (
        "cannot find the home folder in '~nosuchuser/x'; write the path out in full"
    )
    with pytest.raises(ConfigError) as info:
        library.find("a" * 300)
    assert str(info.value) == f"'{'a' * 300}' is not a usable file name: File name too long"


def test_an_unreadable_search_folder_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAXPLAYER_PATH", "x" * 300)
    assert "default" in [e.name for e in library.list_sessions()]
