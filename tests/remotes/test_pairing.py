"""Pairing a phone: the QR code printed (by ``serve --pair`` and once by ``serve``) decodes
to the pairing address, and the page takes ``?token=`` once and keeps it in a cookie.

The QR code is read back from the printed text itself: each half-block character is two
modules (a block is light, a space dark: drawn for a dark terminal), drawn into a PGM
image that Debian's ``zbarimg`` decodes.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from relaxplayer.cli import main
from relaxplayer.remotes import auth, pairing

pytest.importorskip("segno")
ZBAR = shutil.which("zbarimg")
needs_zbar = pytest.mark.skipif(ZBAR is None, reason="needs zbarimg (Debian's zbar-tools)")
HALVES = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}  # (top, bottom) light


def qr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and set(line) <= set(HALVES)]


def decode(lines: list[str], tmp_path: Path, scale: int = 6) -> str:
    """The text of the QR code drawn by ``lines``, as zbarimg reads it from a PGM image."""
    assert ZBAR is not None
    width = max(len(line) for line in lines)
    rows: list[list[int]] = []
    for line in lines:
        cells = [HALVES[ch] for ch in line.ljust(width, "█")]
        rows += [[c[0] for c in cells], [c[1] for c in cells]]
    margin = 4  # light modules around what was printed, as a phone would see paper around it
    rows = (
        [[1] * (width + 2 * margin)] * margin
        + [[1] * margin + r + [1] * margin for r in rows]
        + [[1] * (width + 2 * margin)] * margin
    )
    pixels = bytearray()
    for row in rows:
        line = bytes(255 if light else 0 for light in row for _ in range(scale))
        pixels += line * scale
    image = tmp_path / "qr.pgm"
    image.write_bytes(f"P5 {len(rows[0]) * scale} {len(rows) * scale} 255\n".encode() + pixels)
    result = subprocess.run(
        [ZBAR, "--raw", "-q", str(image)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@needs_zbar
def test_serve_pair_prints_the_address_and_a_qr_code_of_it(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["serve", "--pair", "--listen", "192.168.1.20:8737"])
    assert first.exit_code == 0, first.output
    stored = tmp_path / "config" / auth.FILE_NAME  # RELAXPLAYER_CONFIG of the autouse fixture
    token = stored.read_text().strip()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    url = f"http://192.168.1.20:8737/?token={token}"
    assert first.stdout.splitlines()[0] == url
    lines = qr_lines(first.stdout)
    assert len(lines) <= 22 and max(map(len, lines)) <= 80  # fits a terminal
    assert decode(lines, tmp_path) == url
    assert f"token made now and stored in {stored} (mode 0600)" in first.stderr
    again = runner.invoke(main, ["serve", "--pair", "--listen", "192.168.1.20:8737"])
    assert again.exit_code == 0 and again.stdout == first.stdout  # the same token, shown again
    assert f"token stored in {stored}" in again.stderr


def test_serve_pair_on_loopback_says_what_to_listen_on() -> None:
    result = CliRunner().invoke(main, ["serve", "--pair"])  # the default listen: 127.0.0.1:8737
    assert result.exit_code == 2
    assert "on loopback: no phone can reach it and no pairing is needed" in result.stderr
    assert "--listen 0.0.0.0:8737" in result.stderr


def test_a_wildcard_address_becomes_one_a_phone_can_use() -> None:
    host = pairing.reachable_host("0.0.0.0")
    assert host not in pairing.WILDCARDS
    assert (
        pairing.pairing_url("192.168.1.20", 8737, "a b") == "http://192.168.1.20:8737/?token=a%20b"
    )
    assert pairing.pairing_url("fd00::7", 8737, "t") == "http://[fd00::7]:8737/?token=t"


@needs_zbar
def test_serve_prints_the_qr_code_once_when_it_makes_the_token(  # type: ignore[no-untyped-def]
    service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relaxplayer.remotes import web
    from tests.remotes.test_serve_remotes import free_port

    svc, _ = service
    said: list[str] = []
    port = free_port()
    for _ in range(2):  # the next serve (a new process) finds the token: nothing is shown
        server = web.start(svc, f"0.0.0.0:{port}", lambda line: None, said.append)
        server.close()
        monkeypatch.setattr(auth, "_made_here", set())
    assert len(said) == 1
    token = (tmp_path / "config" / auth.FILE_NAME).read_text().strip()
    url = decode(qr_lines(said[0]), tmp_path)
    assert url.endswith(f":{port}/?token={token}") and url in said[0]
    assert "`relaxplayer serve --pair` shows it again" in said[0]


def test_the_page_takes_the_token_once_and_keeps_it_in_a_cookie(service) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from relaxplayer.remotes import web

    svc, _ = service
    token = "a-pairing-token-for-tests-0123456789"
    app = web.create_app(svc, token=token, loopback=False)
    try:
        with TestClient(app, base_url="http://192.168.1.20:8737") as phone:
            assert phone.get("/api/status").status_code == 401
            opened = phone.get(f"/?token={token}")  # the address in the QR code, once
            assert opened.status_code == 200 and str(opened.url) == "http://192.168.1.20:8737/"
            assert "token" not in str(opened.url)  # the address bar forgets it
            assert phone.cookies.get(web.COOKIE) == token  # kept by the phone's cookie jar
            assert phone.get("/").status_code == 200  # later visits: no token in the address
            assert phone.get("/api/status").json()["state"] == "idle"
        with TestClient(app, base_url="http://192.168.1.20:8737") as stranger:
            assert stranger.get("/").status_code == 401
    finally:
        web.detach(app, svc)
