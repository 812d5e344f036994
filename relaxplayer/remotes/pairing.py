"""The pairing address of the phone page, and its QR code drawn for a terminal.

The phone opens ``http://HOST:PORT/?token=…`` once; the page moves the token
into a cookie. Scanning beats typing 32 random characters on a phone, so the
address is also shown as a QR code made of Unicode half blocks (two modules
per character cell, so it fits a 80 x 24 terminal and the journal). segno
makes the code: pure Python, no dependencies, in the ``web`` extra.
"""

from __future__ import annotations

import io
import socket
from pathlib import Path
from urllib.parse import quote

WILDCARDS = ("0.0.0.0", "::", "[::]", "")
QR_BORDER = 2  # modules of quiet zone; phones read 2 well, and it saves 4 lines


def reachable_host(host: str) -> str:
    """The host a phone should use: ``host`` itself, or for a wildcard the box's LAN address.

    The address comes from the route the kernel would take (a UDP socket that is
    connected, never sent on), so it works without internet; failing that, the
    host name.
    """
    if host not in WILDCARDS:
        return host
    family, probe = (
        (socket.AF_INET6, "2001:db8::1")
        if host.strip("[]") == "::"
        else (socket.AF_INET, "192.0.2.1")
    )
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            found = s.getsockname()[0]
    except OSError:
        return socket.gethostname()
    return f"[{found}]" if ":" in found else found


def pairing_url(host: str, port: int, token: str) -> str:
    """``http://HOST:PORT/?token=TOKEN`` with HOST as a phone reaches it."""
    shown = reachable_host(host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={quote(token, safe='')}"


def qr_text(text: str) -> str:
    """``text`` as a QR code in half blocks, light modules drawn: for a dark terminal.

    Raises ImportError without segno (``pip install 'relaxplayer[web]'``).
    """
    import segno

    out = io.StringIO()
    segno.make(text, error="m", micro=False).terminal(out=out, border=QR_BORDER, compact=True)
    return out.getvalue().rstrip("\n")


def pairing_text(url: str) -> str:
    """The address, then its QR code (or a note when segno is missing)."""
    try:
        code = qr_text(url)
    except ImportError:
        return f"{url}\n(no QR code: pip install 'relaxplayer[web]' for segno)"
    return f"{url}\n{code}\nscan it with the phone's camera, or open the address once"


def pair(address: str) -> tuple[str, Path, bool]:
    """``serve --pair``: ``(url, where the token is, made now)`` for the page at ``address``.

    On loopback nothing needs pairing, and no phone could reach it: a
    ``ConfigError`` says how to listen beyond it.
    """
    from relaxplayer.errors import ConfigError
    from relaxplayer.remotes import auth
    from relaxplayer.service.config import parse_address

    parsed = parse_address(address)
    if isinstance(parsed, str):
        raise ConfigError(f"{parsed}; write it like 0.0.0.0:8737")
    host, port = parsed
    if auth.is_loopback(host):
        raise ConfigError(
            f"the phone page on {address} is on loopback: no phone can reach it and no pairing "
            "is needed; set `listen: 0.0.0.0:8737` in config.yaml (or pass --listen 0.0.0.0:8737)"
        )
    token, where, created = auth.load_or_create()
    return pairing_url(host, port, token), where, created
