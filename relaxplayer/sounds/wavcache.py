"""The narration cache's file format: a 16-bit mono WAV with a checksum chunk.

Kept apart from ``speech`` so that reading the cache (the player process)
never needs the synthesis code, and the format has one owner.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

CHECK_CHUNK = b"rpck"  # our WAV chunk after the samples: SHA-256 of the data chunk


def wav_bytes(data: np.ndarray, rate: int) -> bytes:
    """Mono float32 -> a 16-bit WAV whose last chunk is the SHA-256 of its samples.

    Plain WAV players and libsndfile skip the extra chunk; ``read_wav`` uses it
    to tell a whole entry from a damaged one.
    """
    pcm = np.clip(np.rint(data * 32767.0), -32768, 32767).astype("<i2").tobytes()
    fmt = (
        (1).to_bytes(2, "little")  # PCM
        + (1).to_bytes(2, "little")  # mono
        + rate.to_bytes(4, "little")
        + (rate * 2).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
    )
    body = (
        b"WAVE"
        + b"fmt "
        + len(fmt).to_bytes(4, "little")
        + fmt
        + b"data"
        + len(pcm).to_bytes(4, "little")
        + pcm
        + (b"\0" if len(pcm) & 1 else b"")
        + CHECK_CHUNK
        + (32).to_bytes(4, "little")
        + hashlib.sha256(pcm).digest()
    )
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _chunks(blob: bytes) -> dict[bytes, bytes] | None:
    """The chunks of a RIFF/WAVE file, or None when it is cut short or not a WAV."""
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        return None
    if int.from_bytes(blob[4:8], "little") + 8 != len(blob):
        return None  # cut short (or grown): the RIFF header says how long the whole file is
    chunks, offset = {}, 12
    while offset + 8 <= len(blob):
        size = int.from_bytes(blob[offset + 4 : offset + 8], "little")
        if offset + 8 + size > len(blob):
            return None
        chunks[blob[offset : offset + 4]] = blob[offset + 8 : offset + 8 + size]
        offset += 8 + size + (size & 1)
    return chunks


def read_wav(path: Path) -> tuple[np.ndarray, int] | None:
    """``(int16 samples, rate)`` of a cache entry, or None unless it is whole and its checksum holds."""
    try:
        chunks = _chunks(path.read_bytes())
    except OSError:
        return None
    if chunks is None or not {b"fmt ", b"data", CHECK_CHUNK} <= chunks.keys():
        return None
    fmt, data = chunks[b"fmt "], chunks[b"data"]
    mono16 = len(fmt) >= 16 and fmt[2:4] == b"\x01\x00" and fmt[14:16] == b"\x10\x00"
    if not mono16 or not data or hashlib.sha256(data).digest() != chunks[CHECK_CHUNK]:
        return None
    return np.frombuffer(data, dtype="<i2"), int.from_bytes(fmt[4:8], "little")


def wav_info(path: Path) -> tuple[int, int] | None:
    """``(frames, rate)`` from the header alone, or None when the file is shorter than it says.

    Cheap (reads 44 bytes and a stat), for ``length``; ``read_wav`` checks the samples too.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(44)
        size = path.stat().st_size
    except OSError:
        return None
    ok = (
        len(head) == 44
        and head[:4] == b"RIFF"
        and head[8:16] == b"WAVEfmt "
        and head[36:40] == b"data"
        and int.from_bytes(head[4:8], "little") + 8 == size
    )
    frames = int.from_bytes(head[40:44], "little") // 2 if ok else 0
    return (frames, int.from_bytes(head[24:28], "little")) if frames > 0 else None
