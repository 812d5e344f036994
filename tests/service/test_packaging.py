"""packaging/relaxplayer.service: the promises the docs make about it, and systemd's own check."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "packaging" / "relaxplayer.service"


def service_section() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_unit_runs_as_a_dedicated_user_with_audio_and_gpio() -> None:
    s = service_section()
    assert s["User"] == ["relaxplayer"]
    assert set(s["SupplementaryGroups"][0].split()) == {"audio", "gpio"}
    assert s["WorkingDirectory"] and s["RuntimeDirectory"] == ["relaxplayer"]
    assert s["Restart"] == ["on-failure"]
    assert "--output alsa" in s["ExecStart"][0] and s["ExecStart"][0].split()[1] == "serve"


def test_unit_hardening_keeps_devices() -> None:
    s = service_section()
    assert s["ProtectSystem"] == ["strict"] and s["PrivateTmp"] == ["yes"]
    assert s["NoNewPrivileges"] == ["yes"]
    assert set(s["ReadWritePaths"][0].split()) == {"/var/lib/relaxplayer", "/var/cache/relaxplayer"}
    assert "PrivateDevices" not in s  # it would hide /dev/snd and the GPIO chips
    env = dict(e.split("=", 1) for e in s["Environment"])
    assert env["RELAXPLAYER_DATA"].startswith("/var/lib/relaxplayer")
    assert env["RELAXPLAYER_CACHE"].startswith("/var/cache/relaxplayer")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_unit() -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, check=False
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable" not in line  # not installed on this machine
    ]
    assert problems == []


def test_configparser_reads_it() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(UNIT.read_text())
    assert parser["Install"]["WantedBy"] == "multi-user.target"
