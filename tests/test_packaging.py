"""The packaging configuration names every folder of the package, so installs print no
setuptools warnings ("Package 'relaxplayer.data' is absent from the `packages` configuration")."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed_with_its_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {
        ".".join(p.relative_to(ROOT).parts)
        for p in (ROOT / "relaxplayer").rglob("*")
        if p.is_dir() and p.name != "__pycache__" and any(p.iterdir())
    }
    assert folders | {"relaxplayer", "relaxplayer.sessions"} == set(config["packages"])
    assert config["package-data"]["relaxplayer.data"] == ["*.json"]
    assert config["package-dir"] == {"relaxplayer.sessions": "sessions"}
