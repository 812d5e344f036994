"""Cheap checks that a voice can work, for ``validate``: no synthesis, no model loading.

A session that names a language espeak-ng has no voice for, or a ``.onnx``
file that is not a model, should fail in ``validate`` with the line of its
``voice:``, not at bedtime in the middle of a session.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

MIN_ONNX_BYTES = 1024  # a real Piper voice is 15-100 MB; a few bytes are a stub or a mistake
ONNX_FIRST_BYTE = 0x08  # protobuf ModelProto: field 1 (ir_version), a varint


@functools.lru_cache(maxsize=4)
def espeak_languages(binary: str) -> frozenset[str]:
    """Every language tag ``binary --voices`` lists (lower case, ``-`` separated), once per
    process; empty when it cannot be run (then nothing is refused)."""
    try:
        out = subprocess.run(
            [binary, "--voices"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    found: set[str] = set()
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 2:
            continue
        found.add(_tag(fields[1]))
        found.update(_tag(f.strip("()")) for f in fields[5:] if not f.strip("()").isdigit())
    return frozenset(found)


def _tag(language: str) -> str:
    return language.strip().replace("_", "-").lower()


def espeak_speaks(binary: str, language: str) -> bool:
    """Whether espeak-ng has a voice for ``language`` (``en`` matches ``en-gb``, ``en-US``
    matches ``en-us``, and ``de-AT`` falls back to ``de`` as espeak-ng itself does)."""
    known = espeak_languages(binary)
    if not known:
        return True  # cannot tell: let synthesis say so
    tag = _tag(language)
    primary = tag.split("-")[0]
    return tag in known or primary in known or any(k.startswith(f"{tag}-") for k in known)


def onnx_problem(path: Path) -> str | None:
    """Why ``path`` cannot be an ONNX model, from its size and first bytes; None if it may be."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(2)
    except OSError as exc:
        return f"{path}: cannot read the voice model: {exc.strerror}"
    if size < MIN_ONNX_BYTES:
        return f"{path}: {size} bytes is too small for a Piper voice model; download it again"
    if head[:1] != bytes([ONNX_FIRST_BYTE]) or len(head) < 2 or head[1] & 0x80:
        return (
            f"{path}: not an ONNX model (it does not start like one); "
            "download the voice again, or point voice.model at its .onnx file"
        )
    return None
