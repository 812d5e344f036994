"""YAML session script -> validated ``Session``, reporting every problem at once.

Errors read like a compiler's (``file:line:col: error: where: what; how``) with
the source line and a caret, because people edit these files by hand and a
session that fails at bedtime should have failed in ``validate`` instead.
"""

from __future__ import annotations

import difflib
import errno
import gc
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

try:  # libyaml's parser: about twenty times faster than PyYAML's pure-Python one
    from yaml.cyaml import CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    CParser = None

from relaxplayer import units
from relaxplayer.errors import RelaxError, SessionError
from relaxplayer.model import (
    AMBIENCES,
    BELLS,
    BREATH_CUES,
    BREATH_PRESETS,
    VOICE_ENGINES,
    Background,
    Bell,
    Breathe,
    BreathPattern,
    End,
    Mark,
    Pause,
    Play,
    Repeat,
    Say,
    Section,
    Session,
    Step,
    Timer,
    Voice,
)

MAX_FILE_BYTES = 1_000_000
MAX_STEP_SECONDS = 12 * 3600.0
MAX_REPEAT = 1000
MAX_DEPTH = 8
SHOWN_COLUMNS = 120
MAX_CYCLES = 10000
MAX_TEXT = 20_000  # characters of one text value: minutes of speech, far beyond any line
MAX_ERRORS = 50  # problems shown; the rest are counted
MAX_VALUE = 60  # characters of a value quoted in a message
MAX_MESSAGE = 400  # characters of a message (beside the source line, which is windowed)
MAX_NESTING = 64  # YAML levels: far above any real script, far below Python's recursion limit
MAX_CUES = 100_000  # steps, breathing phases and bells once repeats and cycles are expanded
MAX_SESSION_SECONDS = 24 * 3600.0
MIN_EVERY = 1.0
MIN_PHASE = 0.5
MAX_PHASE = 120.0
PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")
)

TOP_KEYS = (
    "title",
    "description",
    "tags",
    "language",
    "voice",
    "narration",
    "background",
    "end",
    "steps",
)
STEP_KEYS: dict[str, tuple[str, ...]] = {
    "section": ("section",),
    "say": ("say",),
    "pause": ("pause",),
    "play": ("play", "text", "volume"),
    "bell": ("bell", "volume"),
    "breathe": ("breathe", "cycles", "for", "cue"),
    "timer": ("timer", "say", "sides", "every", "bell"),
    "repeat": ("repeat", "steps"),
}
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".mp4")

Probe = Callable[[Path], object]


def _event_source(text: str, pure: bool = False) -> object:
    """A YAML event parser over ``text``: libyaml's (fast, C) when present, else PyYAML's own.

    Both give the same events with the same 0-based line and column marks; only
    the composing of nodes is done here, so the two paths cannot drift apart.
    """
    if not pure and CParser is not None:
        return CParser(text)
    return _PureParser(text)


class _PureParser(yaml.SafeLoader):
    """PyYAML's own parser, stopping at the flow bracket that nests too deeply.

    Its scanner re-checks every open flow level for each token, so ``[[[[...``
    thousands deep takes seconds before the composer ever sees the depth; this
    stops at the same bracket the composer would refuse (block levels counted
    from the scanner's indentation stack).
    """

    def fetch_flow_collection_start(self, TokenClass):  # type: ignore[no-untyped-def]
        if self.flow_level + len(self.indents) >= MAX_NESTING:
            raise _RefusedYAML(
                None,
                None,
                f"nested too deeply (more than {MAX_NESTING} levels of lists and mappings)",
                self.get_mark(),
            )
        super().fetch_flow_collection_start(TokenClass)


def _compose_events(parser: object) -> yaml.Node | None:
    """The single document's node tree, composed without recursion.

    Refuses anchors and aliases (they buy nothing in a script and are the vector
    of "billion laughs" expansion bombs) and nesting deeper than ``MAX_NESTING``
    (a flow ``[[[[...`` would otherwise exhaust the stack of a recursive composer).
    """
    get = parser.get_event  # type: ignore[attr-defined]
    get()  # stream start
    if type(get()) is yaml.StreamEndEvent:
        return None
    root: yaml.Node | None = None
    stack: list[yaml.CollectionNode] = []
    keys: list[yaml.Node | None] = []
    resolved: dict[tuple[str, object], str] = {}
    scalar_event, end_events = yaml.ScalarEvent, (yaml.SequenceEndEvent, yaml.MappingEndEvent)
    starts = {yaml.SequenceStartEvent: yaml.SequenceNode, yaml.MappingStartEvent: yaml.MappingNode}
    while True:
        event = get()
        cls = type(event)
        if cls is yaml.DocumentEndEvent:
            break
        if cls is yaml.AliasEvent or (cls not in end_events and event.anchor is not None):
            raise _RefusedYAML(
                None,
                None,
                "anchors and aliases (&name, *name) are not supported in session scripts; "
                "write the value out in full",
                event.start_mark,
            )
        node: yaml.Node
        if cls is scalar_event:
            tag = written = event.tag
            if tag is None or tag == "!":
                memo = (event.value, event.implicit)
                tag = resolved.get(memo)
                if tag is None:
                    tag = resolved[memo] = _RESOLVE(yaml.ScalarNode, event.value, event.implicit)
            # libyaml gives '' for a plain scalar's style, PyYAML None
            node = yaml.ScalarNode(
                tag, event.value, event.start_mark, event.end_mark, style=event.style or None
            )
            if written is not None:
                node.written_tag = True  # type: ignore[attr-defined]
        elif cls in end_events:
            node = stack.pop()
            node.end_mark = event.end_mark
            keys.pop()
        else:
            if len(stack) >= MAX_NESTING:
                raise _RefusedYAML(
                    None,
                    None,
                    f"nested too deeply (more than {MAX_NESTING} levels of lists and mappings)",
                    event.start_mark,
                )
            kind = starts[cls]
            tag = event.tag
            if tag is None or tag == "!":
                tag = _RESOLVE(kind, None, event.implicit)
            stack.append(kind(tag, [], event.start_mark, None, flow_style=event.flow_style))
            keys.append(None)
            continue
        if not stack:
            root = node
        elif type(stack[-1]) is yaml.SequenceNode:
            stack[-1].value.append(node)
        elif keys[-1] is None:
            keys[-1] = node
        else:
            stack[-1].value.append((keys[-1], node))
            keys[-1] = None
    event = get()
    if type(event) is not yaml.StreamEndEvent:
        raise _RefusedYAML(
            None,
            None,
            "a session is one YAML document; remove the second '---' and what follows it",
            event.start_mark,
        )
    return root


@dataclass
class _Ctx:
    """Collects problems while walking the YAML tree."""

    file: str
    lines: list[str]
    base: Path
    found: list[tuple[tuple[int, int], Callable[[], str]]] = field(default_factory=list)
    files: list[tuple[Path, yaml.Node, str]] = field(default_factory=list)
    rejected: set[int] = field(default_factory=set)
    top: list[tuple[Step, yaml.Node, str]] = field(default_factory=list)  # top-level steps

    def error(
        self,
        node: yaml.Node | yaml.Mark | None,
        where: str,
        message: str | Callable[[], str],
        width: int = 1,
    ) -> None:
        """Record a problem; a callable ``message`` is only worked out if it is shown
        (150,000 unknown keys must not cost 150,000 spelling suggestions)."""
        if id(node) in self.rejected:
            return  # its value was already reported as unreadable; one message per value
        mark = getattr(node, "start_mark", node)
        order = (mark.line, mark.column) if mark is not None else (-1, -1)

        def text() -> str:
            said = message() if callable(message) else message
            return format_problem(self.file, self.lines, node, where, said, width)

        self.found.append((order, text))

    def note(self, text: str) -> None:
        """A problem with no position (already formatted)."""
        self.found.append(((-1, -1), lambda: text))

    @property
    def problems(self) -> list[str]:
        """The first ``MAX_ERRORS`` problems in the order they appear in the file, then a
        line saying how many more there are (76,000 bad steps must not print 10 MB)."""
        ordered = sorted(self.found, key=lambda item: item[0])
        shown = [text() for _, text in ordered[:MAX_ERRORS]]
        if len(ordered) > MAX_ERRORS:
            more = len(ordered) - MAX_ERRORS
            shown.append(
                f"{self.file}: ... and {more:,} more error{'s' if more != 1 else ''} "
                "(fix these first, then validate again)"
            )
        return shown

    def fail(self) -> SessionError:
        """The ``SessionError`` for everything found, counting the problems not shown."""
        return SessionError(self.problems, total=len(self.found))

    def reject(self, node: yaml.Node, where: str, message: str) -> None:
        """Report a value that cannot be read, and silence later complaints about it."""
        self.error(node, where, message)
        self.rejected.add(id(node))

    def mark(self, node: yaml.Node) -> Mark:
        return Mark(self.file, node.start_mark.line + 1, node.start_mark.column + 1)


def format_problem(
    file: str,
    lines: list[str],
    node: yaml.Node | yaml.Mark | None,
    where: str,
    message: str,
    width: int = 1,
) -> str:
    """``file:line:col: error: where: message`` plus the source line and a caret."""
    mark = getattr(node, "start_mark", node)
    prefix = f"{where}: " if where else ""
    message = shorten(message, MAX_MESSAGE)
    if mark is None:
        return f"{file}: error: {prefix}{message}"
    line, col = mark.line, mark.column
    head = f"{file}:{line + 1}:{col + 1}: error: {prefix}{message}"
    if 0 <= line < len(lines):
        src = lines[line].rstrip("\n")
        if isinstance(node, yaml.ScalarNode) and node.end_mark.line == line:
            width = max(1, node.end_mark.column - col)
        width = max(1, min(width, len(src) - col)) if len(src) > col else 1
        src, col, width = _window(src, col, width)
        return f"{head}\n    {src}\n    {' ' * col}^{'~' * (width - 1)}"
    return head


def shorten(text: str, size: int = MAX_VALUE) -> str:
    """``text`` cut in the middle to at most about ``size`` characters, saying how much was left
    out, so that one enormous value gives one readable line."""
    if len(text) <= size:
        return text
    keep = max(8, size - 30)
    head, tail = text[: keep * 2 // 3], text[len(text) - keep // 3 :]
    return f"{head}...({len(text) - len(head) - len(tail):,} characters)...{tail}"


def _window(src: str, col: int, width: int, size: int = SHOWN_COLUMNS) -> tuple[str, int, int]:
    """At most ``size`` characters of a long source line around the caret, so one
    10 000-character line does not flood the terminal."""
    if len(src) <= size:
        return src, col, width
    start = max(0, min(col - size // 3, len(src) - size))
    shown = src[start : start + size]
    lead = "..." if start > 0 else ""
    tail = "..." if start + size < len(src) else ""
    width = max(1, min(width, start + size - col))
    return f"{lead}{shown}{tail}", col - start + len(lead), width


def load_session(path: str | Path, probe: Probe | None = None) -> Session:
    """Read and validate a session script.

    ``probe`` (e.g. ``sounds.clips.probe``) is called for every referenced
    audio file so that undecodable files are reported with their line and
    column; it raises ``RelaxError`` on failure.
    """
    path = Path(path)
    text = _read_text(path)
    return parse_session(text, str(path), path.parent, probe)


def parse_session(text: str, file: str, base: Path, probe: Probe | None = None) -> Session:
    """Validate script ``text`` (named ``file`` in messages; paths relative to ``base``)."""
    collecting = gc.isenabled()
    gc.disable()  # a 1 MB script is ~300,000 new objects: collections would be most of the time
    try:
        return _parse_session(text, file, base, probe)
    finally:
        if collecting:
            gc.enable()


def _parse_session(text: str, file: str, base: Path, probe: Probe | None) -> Session:
    ctx = _Ctx(file=file, lines=text.splitlines(), base=base)
    root = _compose(ctx, text)
    if root is None:
        raise SessionError([f"{file}: error: the file is empty; a session needs a title and steps"])
    _check_tags(ctx, root)
    session = _session(ctx, root)
    clips = _probe_files(ctx, probe) if probe is not None else {}  # even when other things
    total = (0, 0.0)  # are wrong: report everything at once
    for step, node, where in ctx.top:
        total = _check_size(ctx, total, step, node, where, clips)
    if ctx.found or session is None:
        raise ctx.fail()
    return session


def _compose(ctx: _Ctx, text: str, pure: bool = False) -> yaml.Node | None:
    """The YAML node tree, or a ``SessionError`` pointing at the broken spot."""
    bad = _NON_PRINTABLE.search(text)
    if bad is not None:  # checked here, by character, for both parsers alike
        _reader_error(ctx, text, bad.start(), ord(bad.group()))
        raise ctx.fail()
    try:
        try:
            return _parse(text, pure)
        except _RefusedYAML:
            raise
        except yaml.YAMLError:
            if pure or CParser is None:
                raise
            # libyaml's words and places for syntax errors differ from PyYAML's (and it
            # stops early on deep flow nesting); PyYAML's own parser, run up to the error
            # only, gives one message whichever parser is installed
            return _parse(text, pure=True)
    except yaml.MarkedYAMLError as exc:
        mark, what = _syntax_problem(ctx, exc)
        ctx.error(mark, "", f"invalid YAML: {what}")
    except yaml.YAMLError as exc:
        ctx.note(f"{ctx.file}: error: invalid YAML: {shorten(str(exc), MAX_MESSAGE)}")
    raise ctx.fail()


def _parse(text: str, pure: bool) -> yaml.Node | None:
    parser = _event_source(text, pure)
    try:
        return _compose_events(parser)
    finally:
        parser.dispose()  # type: ignore[attr-defined]


class _RefusedYAML(yaml.MarkedYAMLError):
    """Valid YAML that a session script may not use (anchors, deep nesting)."""


def _syntax_problem(ctx: _Ctx, exc: yaml.MarkedYAMLError) -> tuple[yaml.Mark | None, str]:
    """Where a YAML syntax error is, and what it is, in words a script's author uses.

    Most syntax errors in a hand-written script are a line indented too far or
    not far enough; PyYAML reports those as "expected <block end>" at the
    enclosing block (often 1:1), libyaml as "did not find expected key". The
    line the parser stopped at is compared with the line before it. Otherwise,
    where a construct began (an unclosed quote) helps more than where it broke.
    """
    problem = exc.problem_mark
    if problem is not None and exc.context not in _QUOTED_CONTEXTS:
        found = _misindented(ctx.lines, problem.line, str(exc.problem), problem.column)
        if found is not None:
            return found
    if exc.context in _QUOTED_CONTEXTS and exc.context_mark is not None:
        mark = exc.context_mark
    else:
        mark = problem or exc.context_mark
    if "'\\t'" in str(exc.problem) and problem is not None:
        return problem, "a tab in the indentation; YAML indents with spaces only: use spaces"
    what = ", ".join(_PLAIN_WORDS.get(p, p) for p in (exc.context, exc.problem) if p)
    return mark, what


_QUOTED_CONTEXTS = (
    "while scanning a quoted scalar",
    "while parsing a quoted scalar",
    "while parsing a flow sequence",
    "while parsing a flow mapping",
)
_STRUCTURE_PROBLEMS = (
    "expected <block end>",
    "did not find expected",
    "mapping values are not allowed",
)
# libyaml's and PyYAML's words for the same problems, so both parsers give one message
_PLAIN_WORDS = {
    "while parsing a quoted scalar": "while scanning a quoted scalar",
    "mapping values are not allowed in this context": "mapping values are not allowed here",
}


def _misindented(
    lines: list[str], at: int, problem: str, column: int = 0
) -> tuple[yaml.Mark, str] | None:
    """Line ``at`` (0-based) and a plain message, if it is indented unlike the line before it
    (or is another common slip: a list item among keys, an unquoted ': ' in a value, whose
    ``column`` is where the parser stopped).

    A key line is compared with where the previous line's keys start (after
    its ``- ``), a list item with where the previous line starts.
    """
    if not problem.startswith(_STRUCTURE_PROBLEMS) or not 0 <= at < len(lines):
        return None
    line, indent, _ = _shape(lines[at])
    if not line:
        return None
    before = next(
        (n for n in range(at - 1, -1, -1) if _shape(lines[n])[0] and not _block_text(lines, n)),
        None,
    )
    if before is None:
        return None
    p_line, p_indent, p_key = _shape(lines[before])
    item = line.startswith("- ") or line == "-"
    ref = p_indent if item else p_key
    opens = _strip_comment(p_line).endswith(":")
    here = yaml.Mark("", 0, at, indent, None, None)
    if problem.startswith("mapping values") and (indent == ref or (indent > ref and opens)):
        colon = yaml.Mark("", 0, at, column, None, None)
        return colon, "a ':' followed by a space inside a value; put the whole value in quotes"
    if indent == ref or (indent > ref and opens):
        if item and not p_line.startswith("-"):
            return here, (
                "this line starts a list item ('- ') among keys; indent it under the key it "
                "belongs to (such as 'steps:'), or remove the '- '"
            )
        if not item and p_line.startswith("-") and problem.startswith("did not find expected '-'"):
            return here, (
                "this line is a key among list items; start it with '- ' for a new item, or "
                "indent it to line up with the keys of the item above"
            )
        return None
    like = f"indent it by {ref} spaces" if ref else "do not indent it"
    if indent > ref:
        how = f"{like} like that line, or end that line with ':' to start a block under it"
        what = "more"
    else:
        how = f"{like} to continue that block, or line it up with the block it belongs to"
        what = "less"
    message = f"this line is indented {what} than the one before it (line {before + 1}); {how}"
    return yaml.Mark("", 0, at, indent, None, None), message


def _shape(raw: str) -> tuple[str, int, int]:
    """(text without indentation, its indentation, the column its keys start at after '- ')."""
    body = raw.lstrip(" ")
    if not body or body.startswith("#"):
        return "", 0, 0
    indent = len(raw) - len(body)
    key, rest = indent, body
    while rest.startswith("- ") or rest == "-":
        stripped = rest[1:].lstrip(" ")
        key += len(rest) - len(stripped)
        rest = stripped
    return body.rstrip(), indent, key


def _strip_comment(text: str) -> str:
    """A line without a trailing comment (a '#' after a space: a fair guess outside quotes)."""
    cut = text.find(" #")
    return (text[:cut] if cut >= 0 else text).rstrip()


def _block_text(lines: list[str], n: int) -> bool:
    """Whether line ``n`` is too unlike a key or item to compare with (a continued text)."""
    body = lines[n].strip()
    return not (body.startswith("-") or ":" in body)


def _reader_error(ctx: _Ctx, text: str, pos: int, char: int) -> None:
    """A character YAML refuses (NUL, other controls): reported by line and column, not offset."""
    before = text[:pos].splitlines(keepends=True)  # CR, LF and CRLF all end a line
    line = len(before) - 1 if before and not before[-1].endswith(("\n", "\r")) else len(before)
    col = len(before[-1]) if before and line == len(before) - 1 else 0
    # keep control bytes off the terminal
    ctx.lines = text.replace(chr(char), "\ufffd").splitlines()
    mark = yaml.Mark(ctx.file, pos, line, col, None, None)
    ctx.error(
        mark,
        "",
        f"invalid YAML: the character U+{char:04X} is not allowed in a YAML file; remove it",
    )


def _check_tags(ctx: _Ctx, root: yaml.Node) -> None:
    """Refuse explicit tags beyond the plain types (``!!python/...``, ``!!timestamp``, ``!foo``),
    tags that do not fit their node, and characters no later stage can take.

    Such tags are never needed in a script, and constructing them is where YAML
    loaders run code or raise on odd values. Names like ``steps[2].say`` are only
    built for a node that is reported: this walk sees every node of the file.
    """
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if type(node) is yaml.MappingNode:
            for key, value in node.value:
                name = key.value if type(key) is yaml.ScalarNode else "?"
                stack += [(key, (path, name)), (value, (path, name))]
        elif type(node) is yaml.SequenceNode:
            stack.extend((item, (path, i)) for i, item in enumerate(node.value))
        elif (bad := _UNSPEAKABLE.search(node.value)) is not None:
            ctx.reject(node, _where(path), _bad_character(bad.group()))
            continue
        tag = node.tag
        if tag in _PLAIN_SCALAR_TAGS and type(node) is yaml.ScalarNode:
            if not _explicit(node):
                continue
        elif type(node) is not yaml.ScalarNode and tag == _COLLECTION_TAGS[type(node)]:
            continue
        if isinstance(node, yaml.CollectionNode) and tag != _COLLECTION_TAGS[type(node)]:
            ctx.reject(
                node,
                _where(path),
                f"the tag {_short_tag(tag)} does not fit {_kind(node)}; remove it",
            )
        elif isinstance(node, yaml.ScalarNode) and tag in _COLLECTION_TAGS.values():
            ctx.reject(
                node,
                _where(path),
                f"the tag {_short_tag(tag)} does not fit a single value; remove it",
            )
        elif tag not in PLAIN_TAGS and _explicit(node):
            ctx.reject(
                node,
                _where(path),
                f"the tag {_short_tag(tag)} is not supported; remove it "
                "(only !!str, !!int, !!float, !!bool and !!null are understood)",
            )


def _where(path: tuple) -> str:
    """``steps[2].say`` from the walk's nested ``(parent, name or index)`` pairs."""
    parts: list[str] = []
    while path:
        path, name = path
        parts.append(f"[{name}]" if isinstance(name, int) else f".{shorten(str(name), 40)}")
    return "".join(reversed(parts)).lstrip(".")


_COLLECTION_TAGS = {
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
    yaml.MappingNode: "tag:yaml.org,2002:map",
}


def _bad_character(char: str) -> str:
    """Why a scalar holding ``char`` cannot be used, and how to fix it."""
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return (
            f"contains the escape \\u{code:04x}, half of a surrogate pair, which is not a "
            "character; remove it or write the character itself"
        )
    return (
        f"contains the control character U+{code:04X} (from an escape such as \\0 or \\x01), "
        "which no voice or file name can take; remove it"
    )


def _explicit(node: yaml.Node) -> bool:
    """Whether the tag was written in the file rather than inferred from the value
    (the composer marks scalars whose tag was written)."""
    if not isinstance(node, yaml.ScalarNode):
        return True  # collections without a tag are always plain seq/map
    return getattr(node, "written_tag", False)


def _short_tag(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return f"!!{tag[len(prefix) :]}" if tag.startswith(prefix) else tag


def _read_text(path: Path) -> str:
    """The file's text, or a ``SessionError`` saying why it cannot be read."""
    _check_regular(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # never more: the size may have changed since stat
    except OSError as exc:
        raise SessionError([f"{path}: error: cannot read: {exc.strerror}"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise SessionError(
            [f"{path}: error: file is over {MAX_FILE_BYTES} bytes; a session script is smaller"]
        )
    data = data.removeprefix(b"\xef\xbb\xbf")  # a BOM: not part of the text, nor of offsets
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SessionError([_not_utf8(str(path), data, exc.start)]) from None


def _check_regular(path: Path) -> None:
    """Refuse what is not a plain file: a folder, a device (``/dev/zero`` never ends), a FIFO
    (reading it waits for a writer forever)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise SessionError([f"{path}: error: no such file"]) from None
    except UnicodeEncodeError:  # a lone surrogate: no file can have that name
        raise SessionError(
            [
                f"{str(path)!r}: error: the file name holds a character that is not valid text "
                "(a lone surrogate); rename the file"
            ]
        ) from None
    except ValueError:
        raise SessionError(
            [f"{str(path)!r}: error: a file name cannot contain a NUL character"]
        ) from None
    except OSError as exc:
        raise SessionError([f"{path}: error: cannot read: {exc.strerror}"]) from None
    if stat.S_ISDIR(mode):
        raise SessionError([f"{path}: error: is a folder, not a session file; name a .yaml file"])
    if not stat.S_ISREG(mode):
        raise SessionError(
            [f"{path}: error: is not a regular file (a device or a pipe); name a .yaml file"]
        )


def _not_utf8(file: str, data: bytes, start: int) -> str:
    """The first undecodable byte by line and column, with its line shown as far as it decodes."""
    begin = data.rfind(b"\n", 0, start) + 1
    end = data.find(b"\n", start)
    line_text = data[begin : end if end >= 0 else len(data)].decode("utf-8", "replace")
    col = len(data[begin:start].decode("utf-8", "replace"))
    mark = yaml.Mark(file, start, data.count(b"\n", 0, start), col, None, None)
    return format_problem(
        file,
        [""] * mark.line + [line_text],
        mark,
        "",
        f"not UTF-8 text (byte 0x{data[start]:02x}); save the file as UTF-8",
    )


# --- generic node helpers -------------------------------------------------------------


def _mapping(
    ctx: _Ctx, node: yaml.Node, where: str, allowed: tuple[str, ...]
) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
    """A mapping node as ``{key: (key_node, value_node)}``; reports unknown and duplicate keys."""
    if not isinstance(node, yaml.MappingNode):
        ctx.error(
            node, where, f"expected a mapping of keys ({', '.join(allowed)}), got {_kind(node)}"
        )
        return None
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            ctx.error(key_node, where, "keys must be plain words")
            continue
        if key in out:
            ctx.error(key_node, where, f"key '{key}' appears twice; keep one")
        elif key not in allowed:
            ctx.error(
                key_node,
                where,
                lambda key=key: f"unknown key {_quoted(key)}{_suggest(key, allowed)}",  # type: ignore[misc]
                len(key),
            )
        out[key] = (key_node, value_node)
    return out


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    longest = max((len(c) for c in choices), default=0)
    close = (
        difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
        if len(word) <= 2 * longest + 4  # a very long word is like none of them (and slow)
        else []
    )
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; expected one of: {', '.join(choices)}"


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "nothing"
    return _shown(node.value)


def _quoted(word: str) -> str:
    """A word the user wrote, in single quotes, shortened."""
    return f"'{shorten(word, MAX_VALUE)}'"


def _shown(value: object) -> str:
    """A value as quoted in a message: its repr, shortened."""
    return shorten(repr(value), MAX_VALUE)


_CONSTRUCTOR = yaml.SafeLoader("")
_RESOLVE = _CONSTRUCTOR.resolve
_STR = "tag:yaml.org,2002:str"
_PLAIN_SCALAR_TAGS = PLAIN_TAGS - {"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}
# what no text field can hold: control characters (only tab and line breaks are text)
# and lone surrogates, which only an escape ("\ud800") can put in a YAML string
_UNSPEAKABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff]")
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_TYPE_NAMES = {"!!int": "a whole number", "!!float": "a number", "!!bool": "true or false"}


def _construct(ctx: _Ctx, node: yaml.ScalarNode, where: str) -> object:
    """The Python value of a scalar node, typed as YAML's safe loader would type it.

    Only the plain types are constructed: anything else (an implicit date,
    ``=``) comes back as its text and fails the caller's check with a normal
    message. A value its tag cannot hold (``!!int abc``, ``!!bool maybe``)
    makes PyYAML raise ValueError, KeyError or AttributeError; that is
    reported here, at the value, and later complaints about it are silenced.
    """
    if id(node) in ctx.rejected or node.tag not in PLAIN_TAGS:
        return str(node.value)
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except (ValueError, KeyError, AttributeError, TypeError, IndexError, yaml.YAMLError):
        tag = _short_tag(node.tag)
        ctx.reject(
            node,
            where,
            f"{_shown(node.value)} is not a valid {tag} value ({_TYPE_NAMES.get(tag, tag)}); "
            "fix it or remove the tag",
        )
        return str(node.value)


def _text(ctx: _Ctx, node: yaml.Node, where: str, allow_empty: bool = False) -> str | None:
    if id(node) in ctx.rejected:
        return None
    if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
        ctx.error(node, where, f"expected text, got {_kind(node)}")
        return None
    if node.tag != _STR and _explicit(node):
        ctx.error(
            node,
            where,
            f"expected text, but it is tagged {_short_tag(node.tag)}; remove the tag "
            "(or write !!str)",
        )
        return None
    value = str(node.value).strip()
    if not value and not allow_empty:
        ctx.error(node, where, "text is empty")
        return None
    if len(value) > MAX_TEXT:
        ctx.error(
            node,
            where,
            f"the text is {len(value):,} characters long; the limit is {MAX_TEXT:,} "
            "(about 3,000 words): split it into several steps",
        )
        return None
    return value


def _duration(
    ctx: _Ctx, node: yaml.Node, where: str, positive: bool = True, limit: float = MAX_STEP_SECONDS
) -> float | None:
    if not isinstance(node, yaml.ScalarNode):
        ctx.error(node, where, f"expected a duration, got {_kind(node)}; {units.DURATION_HELP}")
        return None
    try:
        seconds = units.parse_duration(_construct(ctx, node, where))
    except ValueError as exc:
        ctx.error(node, where, str(exc))
        return None
    if positive and seconds <= 0:
        ctx.error(node, where, f"must be longer than zero; {units.DURATION_HELP}")
        return None
    if seconds > limit:
        ctx.error(
            node,
            where,
            f"{units.format_over(seconds, limit)} is too long; "
            f"the limit is {units.format_time(limit)}",
        )
        return None
    return seconds


def _level(ctx: _Ctx, node: yaml.Node, where: str) -> float | None:
    if not isinstance(node, yaml.ScalarNode):
        ctx.error(node, where, f"expected a level, got {_kind(node)}; {units.LEVEL_HELP}")
        return None
    value = _construct(ctx, node, where)
    try:
        return units.parse_level(value)
    except ValueError as exc:
        ctx.error(node, where, str(exc))
        return None


def _db_amount(ctx: _Ctx, node: yaml.Node, where: str) -> float | None:
    if not isinstance(node, yaml.ScalarNode):
        ctx.error(node, where, f'expected an amount in dB like "8 dB", got {_kind(node)}')
        return None
    try:
        return units.parse_db_amount(_construct(ctx, node, where))
    except ValueError as exc:
        ctx.error(node, where, str(exc))
        return None


def _int(ctx: _Ctx, node: yaml.Node, where: str, low: int, high: int) -> int | None:
    value = _construct(ctx, node, where) if isinstance(node, yaml.ScalarNode) else None
    if not isinstance(value, int) or isinstance(value, bool):
        ctx.error(node, where, f"expected a whole number, got {_kind(node)}")
        return None
    if not low <= value <= high:
        ctx.error(node, where, f"must be from {low} to {high}, got {value}")
        return None
    return value


def _number(ctx: _Ctx, node: yaml.Node, where: str, low: float, high: float) -> float | None:
    value = _construct(ctx, node, where) if isinstance(node, yaml.ScalarNode) else None
    if not isinstance(value, int | float) or isinstance(value, bool):
        ctx.error(node, where, f"expected a number, got {_kind(node)}")
        return None
    if not low <= value <= high:
        ctx.error(node, where, f"must be from {low} to {high}, got {value}")
        return None
    return float(value)


def _sound(
    ctx: _Ctx, node: yaml.Node, where: str, names: tuple[str, ...], what: str
) -> str | Path | None:
    """A built-in sound name, or a path to an audio file relative to the script."""
    value = _text(ctx, node, where)
    if value is None:
        return None
    if value in names:
        return value
    if "/" in value or "\\" in value or value.lower().endswith(AUDIO_SUFFIXES):
        return _file(ctx, node, where, value)
    ctx.error(
        node,
        where,
        f"unknown {what} '{value}'{_suggest(value, names)} (or give a path to an audio file)",
    )
    return None


def _file(ctx: _Ctx, node: yaml.Node, where: str, value: str, audio: bool = True) -> Path | None:
    """An existing file relative to the session; ``audio`` files are also decoded by the probe."""
    try:
        path = (ctx.base / Path(value).expanduser()).resolve()
        exists, is_file = path.exists(), path.is_file()
    except RuntimeError as exc:  # ~name of a user that does not exist, or a symlink loop
        ctx.error(node, where, _runtime_path_problem(value, exc))
        return None
    except ValueError:  # NUL and surrogates are refused before; a last guard
        ctx.error(node, where, "this path cannot be a file name here; write it out plainly")
        return None
    except OSError as exc:
        ctx.error(node, where, f"cannot use this path: {exc.strerror}")
        return None
    if not exists:
        if _loops(path):  # Python 3.13's resolve() no longer raises for a loop
            ctx.error(node, where, _runtime_path_problem(value, RuntimeError("symlink loop")))
        else:
            ctx.error(
                node, where, f"file not found: {path}; paths are relative to the session file"
            )
        return None
    if not is_file:
        ctx.error(node, where, f"{path} is not a file")
        return None
    if audio:
        ctx.files.append((path, node, where))
    return path


def _runtime_path_problem(value: str, exc: RuntimeError) -> str:
    """pathlib raises RuntimeError both for ``~nosuchuser`` and for a symlink loop."""
    if "loop" in str(exc).lower():
        return (
            f"the path {_shown(value)} runs into a loop of symbolic links; "
            "point it at the file itself"
        )
    return f"cannot find the home folder in {_shown(value)}; write the path out"


def _loops(path: Path) -> bool:
    """Whether ``path`` runs into a loop of symbolic links (ELOOP)."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _is_file(path: Path) -> bool:
    """``Path.is_file`` that says no, rather than raising, for a name too long to exist."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _probe_files(ctx: _Ctx, probe: Probe) -> dict[Path, float]:
    """Decode-check every referenced audio file; their lengths in seconds, by path.

    A header can claim anything: the probe (``clips.probe``) refuses absurd
    rates, and clips longer than a step may be are refused here, at the value
    that names the file.
    """
    lengths: dict[Path, float] = {}
    for path, node, where in ctx.files:
        try:
            info = probe(path)
        except RelaxError as exc:
            ctx.error(node, where, str(exc))
            continue
        rate, frames = getattr(info, "rate", None), getattr(info, "frames", None)
        if not isinstance(rate, int) or not isinstance(frames, int):
            continue  # a probe that only checks
        seconds = frames / rate
        if seconds > MAX_STEP_SECONDS:
            ctx.error(
                node,
                where,
                f"the clip lasts {units.format_time(seconds)}; a clip may last at most "
                f"{units.format_time(MAX_STEP_SECONDS)}",
            )
            continue
        lengths[path] = seconds
    return lengths


# --- the session ----------------------------------------------------------------------


def _session(ctx: _Ctx, root: yaml.Node) -> Session | None:
    keys = _mapping(ctx, root, "", TOP_KEYS)
    if keys is None:
        return None
    title = _text(ctx, keys["title"][1], "title") if "title" in keys else None
    if "title" not in keys:
        ctx.error(root, "", "missing 'title'; add a line like  title: Evening wind-down")
    if "steps" not in keys:
        ctx.error(root, "", "missing 'steps'; add a list of steps such as  - say: Welcome.")
        steps: tuple[Step, ...] = ()
    else:
        steps = _steps(ctx, keys["steps"][1], "steps", depth=0)
    extra: dict[str, object] = {}
    if node := _get(keys, "description"):
        extra["description"] = _text(ctx, node, "description", allow_empty=True) or ""
    if node := _get(keys, "tags"):
        extra["tags"] = _tags(ctx, node)
    if (node := _get(keys, "language")) and (lang := _text(ctx, node, "language")):
        extra["language"] = lang
    if node := _get(keys, "voice"):
        mark = ctx.mark(keys["voice"][0])
        extra["voice"] = _voice(ctx, node, str(extra.get("language", "en")), mark)
    if (node := _get(keys, "narration")) and (gap := _narration(ctx, node)) is not None:
        extra["narration_gap"] = gap
    if node := _get(keys, "background"):
        extra["background"] = _background(ctx, node)
    if node := _get(keys, "end"):
        extra["end"] = _end(ctx, node)
    if "voice" not in extra and "language" in extra:
        extra["voice"] = Voice(language=str(extra["language"]), mark=ctx.mark(keys["language"][0]))
    if ctx.found or title is None:
        return None
    return Session(title=title, steps=steps, source=Path(ctx.file), **extra)  # type: ignore[arg-type]


def _get(keys: dict[str, tuple[yaml.Node, yaml.Node]], name: str) -> yaml.Node | None:
    """The value node of an optional key."""
    return keys[name][1] if name in keys else None


def _tags(ctx: _Ctx, node: yaml.Node) -> tuple[str, ...]:
    if not isinstance(node, yaml.SequenceNode):
        ctx.error(node, "tags", "expected a list like [sleep, breathing]")
        return ()
    tags = [_text(ctx, item, f"tags[{i}]") for i, item in enumerate(node.value)]
    return tuple(t for t in tags if t)


def _voice(ctx: _Ctx, node: yaml.Node, language: str, mark: Mark) -> Voice:
    keys = _mapping(ctx, node, "voice", ("engine", "model", "speed", "language")) or {}
    engine, model, speed = "auto", None, 1.0
    if "engine" in keys:
        value = _text(ctx, keys["engine"][1], "voice.engine")
        if value is not None and value not in VOICE_ENGINES:
            ctx.error(
                keys["engine"][1],
                "voice.engine",
                f"unknown engine '{value}'{_suggest(value, VOICE_ENGINES)}",
            )
        elif value is not None:
            engine = value
    if "model" in keys:
        value = _text(ctx, keys["model"][1], "voice.model")
        if value is not None:
            model = _file(ctx, keys["model"][1], "voice.model", value, audio=False)
            if model is not None and model.suffix != ".onnx":
                ctx.error(
                    keys["model"][1],
                    "voice.model",
                    "a Piper voice is an .onnx file (with its .onnx.json beside it)",
                )
            elif model is not None and not _is_file(Path(f"{model}.json")):
                ctx.error(
                    keys["model"][1],
                    "voice.model",
                    f"the voice's config {model.name}.json is missing; put it beside the .onnx "
                    "file (Piper voices come as a pair)",
                )
    if "speed" in keys:
        speed = _number(ctx, keys["speed"][1], "voice.speed", 0.5, 2.0) or 1.0
    if "language" in keys:
        language = _text(ctx, keys["language"][1], "voice.language") or language
    return Voice(engine=engine, model=model, speed=speed, language=language, mark=mark)


def _narration(ctx: _Ctx, node: yaml.Node) -> float | None:
    keys = _mapping(ctx, node, "narration", ("gap",)) or {}
    if "gap" in keys:
        return _duration(ctx, keys["gap"][1], "narration.gap", positive=False, limit=60)
    return None


def _background(ctx: _Ctx, node: yaml.Node) -> Background | None:
    if isinstance(node, yaml.ScalarNode):
        sound = _sound(ctx, node, "background", AMBIENCES, "background sound")
        return Background(sound=sound) if sound is not None else None
    keys = _mapping(ctx, node, "background", ("sound", "volume", "duck", "fade_in"))
    if keys is None:
        return None
    if "sound" not in keys:
        ctx.error(
            node, "background", f"missing 'sound'; use one of {', '.join(AMBIENCES)} or a file"
        )
        return None
    sound = _sound(ctx, keys["sound"][1], "background.sound", AMBIENCES, "background sound")
    bg: dict[str, float] = {}
    if "volume" in keys and (v := _level(ctx, keys["volume"][1], "background.volume")) is not None:
        bg["volume"] = v
    if "duck" in keys and (v := _db_amount(ctx, keys["duck"][1], "background.duck")) is not None:
        bg["duck_db"] = v
    if (
        "fade_in" in keys
        and (
            v := _duration(ctx, keys["fade_in"][1], "background.fade_in", positive=False, limit=600)
        )
        is not None
    ):
        bg["fade_in"] = v
    return Background(sound=sound, **bg) if sound is not None else None


def _end(ctx: _Ctx, node: yaml.Node) -> End:
    keys = _mapping(ctx, node, "end", ("fade_out", "linger")) or {}
    fade_out, linger = End.fade_out, End.linger
    if "fade_out" in keys:
        fade_out = (
            _duration(ctx, keys["fade_out"][1], "end.fade_out", positive=False, limit=3600) or 0.0
        )
    if "linger" in keys:
        linger = _duration(ctx, keys["linger"][1], "end.linger", positive=False) or 0.0
    given = ctx.mark(keys["fade_out"][1]) if "fade_out" in keys else None
    return End(fade_out=fade_out, linger=linger, fade_out_mark=given)


def _steps(ctx: _Ctx, node: yaml.Node, where: str, depth: int) -> tuple[Step, ...]:
    if not isinstance(node, yaml.SequenceNode):
        ctx.error(node, where, "expected a list of steps (each line starting with '- ')")
        return ()
    if not node.value:
        ctx.error(node, where, "the list of steps is empty; add at least one step")
        return ()
    steps = []
    for i, item in enumerate(node.value):
        step = _step(ctx, item, f"{where}[{i}]", depth)
        if step is not None:
            steps.append(step)
            if depth == 0:
                ctx.top.append((step, item, f"{where}[{i}]"))
    return tuple(steps)


def _check_size(
    ctx: _Ctx,
    before: tuple[int, float],
    step: Step,
    node: yaml.Node,
    where: str,
    clips: dict[Path, float],
) -> tuple[int, float]:
    """Report the step where the expanded session outgrows ``MAX_CUES`` or ``MAX_SESSION_SECONDS``.

    Each value passing its own check is not enough: repeats multiply, and a
    session of a billion cues or a month would pass ``validate`` and then
    exhaust memory or time in ``show``. Counted from the model, without
    building the timeline; returns the running total including ``step``.
    """
    count, seconds = _expanded((step,), clips)
    after = (before[0] + count, before[1] + seconds)
    if after[0] > MAX_CUES >= before[0]:
        ctx.error(
            node,
            where,
            f"the session has {after[0]:,} cues by the end of this step (steps, breaths and bells, "
            f"with repeats expanded); the limit is {MAX_CUES:,}: use fewer repeats or cycles",
        )
    if after[1] > MAX_SESSION_SECONDS >= before[1]:
        ctx.error(
            node,
            where,
            f"the session lasts {units.format_over(after[1], MAX_SESSION_SECONDS)} by the end of this step (with repeats "
            f"expanded); the limit is {units.format_time(MAX_SESSION_SECONDS)}",
        )
    return after


def _expanded(
    steps: list[Step] | tuple[Step, ...], clips: dict[Path, float] | None = None
) -> tuple[int, float]:
    """(timeline entries, seconds of timed steps) once repeats, cycles, sides and bells expand.

    Entries are the step spans, breathing phases and cues the timeline will
    hold; spoken lines count no seconds, since their length is not known yet; a
    ``play`` clip counts its length in ``clips`` (seconds by path, from the probe).
    """
    count, seconds = 0, 0.0
    for step in steps:
        if isinstance(step, Repeat):
            inner = _expanded(step.steps, clips)
            count, seconds = count + step.count * inner[0], seconds + step.count * inner[1]
        elif isinstance(step, Breathe):
            p = step.pattern
            phases = sum(1 for phase in (p.inhale, p.hold, p.exhale, p.rest) if phase > 0)
            count += 1 + 2 * phases * step.cycles
            seconds += step.pattern.cycle * step.cycles
        elif isinstance(step, Timer):
            sides = max(1, len(step.sides))
            bells = math.ceil(step.duration / step.every) - 1 if step.every > 0 else 0
            count += sides * (3 + bells)
            seconds += sides * step.duration
        else:
            count += 1 if isinstance(step, Section | Pause) else 2
            seconds += step.duration if isinstance(step, Pause) else 0.0
            if isinstance(step, Play) and clips:
                seconds += clips.get(step.path, 0.0)
    return count, seconds


def _step(ctx: _Ctx, node: yaml.Node, where: str, depth: int) -> Step | None:
    if not isinstance(node, yaml.MappingNode):
        ctx.error(node, where, f"a step is a mapping such as 'say: Hello', got {_kind(node)}")
        return None
    names = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
    kinds = [n for n in names if n in STEP_KEYS]
    if not kinds:
        first = node.value[0][0] if node.value else node
        word = names[0] if names else ""
        ctx.error(
            first, where, f"unknown step '{word}'{_suggest(word, list(STEP_KEYS))}", len(word)
        )
        return None
    kind = kinds[0]
    if kind == "say" and "timer" in kinds:
        kind = "timer"
    elif len(kinds) > 1 and not (set(kinds) <= set(STEP_KEYS[kind])):
        ctx.error(
            node,
            where,
            f"one step per item: found {', '.join(kinds)}; split them into separate '- ' items",
        )
        return None
    keys = _mapping(ctx, node, f"{where}.{kind}", STEP_KEYS[kind])
    if keys is None:
        return None
    build = _STEP_BUILDERS[kind]
    return build(ctx, keys, f"{where}.{kind}", ctx.mark(node), depth)


def _section(ctx: _Ctx, keys: dict, where: str, mark: Mark, depth: int) -> Step | None:
    title = _text(ctx, keys["section"][1], where)
    return Section(title=title, mark=mark) if title else None


def _say(ctx: _Ctx, keys: dict, where: str, mark: Mark, depth: int) -> Step | None:
    text = _text(ctx, keys["say"][1], where)
    if text and "{side}" in text:
        ctx.error(
            keys["say"][1],
            where,
            "{side} is only filled in inside a timer with sides; "
            "write the side out, or make this a timer with sides: [left, right]",
        )
        return None
    return Say(text=text, mark=mark) if text else None


def _pause(ctx: _Ctx, keys: dict, where: str, mark: Mark, depth: int) -> Step | None:
    seconds = _duration(ctx, keys["pause"][1], where)
    return Pause(duration=seconds, mark=mark) if seconds is not None else None


def _play(ctx: _Ctx, keys: dict, where: str, mark: Mark, depth: int) -> Step | None:
    value = _text(ctx, keys["play"][1], where)
    path = _file(ctx, keys["play"][1], where, value) if value else None
    text = _text(ctx, keys["text"][1], f"{where}.text", allow_empty=True) if "text" in keys else ""
    volume = _level(ctx, keys["volume"][1], f"{where}.volume") if "volume" in keys else 1.0
    if path is None or volume is None:
        return None
    return Play(path=path, text=text or "", volume=volume, mark=mark)


def _bell(ctx: _Ctx, keys: dict, where: str, mark: Mark, depth: int) -> Step | None:
    sound = _sound(ctx, keys["bell"][1], where, BELLS, "bell")
    volume = _level(ctx, keys["volume"][1], f"{where}.volume") if "volume" in keys else 1.0
    if sound is None or volume is None:
        return None
    return Bell(sound=sound, volume=volume, mark=mark)


def _breathe(ctx: _Ctx, keys: dict, where: str, mark: Mark, depth: int) -> Step | None:
    pattern_node = keys["breathe"][1]
    name = ""
    if isinstance(pattern_node, yaml.ScalarNode):
        name = str(pattern_node.value)
        pattern = BREATH_PRESETS.get(name)
        if pattern is None:
            ctx.error(
                pattern_node,
                where,
                f"unknown breathing preset '{name}'{_suggest(name, list(BREATH_PRESETS))}; "
                "or write phases like {inhale: 4, hold: 7, exhale: 8}",
            )
    else:
        pattern = _pattern(ctx, pattern_node, where)
    cue = "tones"
    if "cue" in keys:
        cue_value = _text(ctx, keys["cue"][1], f"{where}.cue")
        if cue_value is not None and cue_value not in BREATH_CUES:
            ctx.error(
                keys["cue"][1],
                f"{where}.cue",
                f"unknown cue '{cue_value}'{_suggest(cue_value, BREATH_CUES)}",
            )
        cue = cue_value or cue
    cycles = _cycles(ctx, keys, where, mark, pattern)
    if pattern is None or cycles is None:
        return None
    return Breathe(pattern=pattern, cycles=cycles, cue=cue, name=name, mark=mark)


def _cycles(
    ctx: _Ctx, keys: dict, where: str, mark: Mark, pattern: BreathPattern | None
) -> int | None:
    if "cycles" in keys and "for" in keys:
        ctx.error(keys["for"][0], where, "give either 'cycles' or 'for', not both", 3)
        return None
    if "cycles" in keys:
        return _int(ctx, keys["cycles"][1], f"{where}.cycles", 1, MAX_CYCLES)
    if "for" in keys:
        seconds = _duration(ctx, keys["for"][1], f"{where}.for")
        if seconds is None or pattern is None:
            return None
        cycles = int(seconds // pattern.cycle + 1e-9)
        if not 1 <= cycles <= MAX_CYCLES:
            short = f"shorter than one breath cycle ({pattern.cycle:g} s)"
            many = f"{cycles} cycles of {pattern.cycle:g} s; the limit is {MAX_CYCLES} cycles"
            ctx.error(keys["for"][1], f"{where}.for", short if cycles < 1 else many)
            return None
        return cycles
    if any(key not in STEP_KEYS["breathe"] for key in keys):
        return None  # a misspelt 'cycles' was reported already; one message is enough
    ctx.error(
        yaml.Mark("", 0, mark.line - 1, mark.column - 1, "", 0),
        where,
        "say how long: add 'cycles: 4' or 'for: 2m'",
    )
    return None


def _pattern(ctx: _Ctx, node: yaml.Node, where: str) -> BreathPattern | None:
    keys = _mapping(ctx, node, where, ("inhale", "hold", "exhale", "rest"))
    if keys is None:
        return None
    phases: dict[str, float] = {}
    for name, (_, value) in keys.items():
        if name in ("inhale", "hold", "exhale", "rest"):
            seconds = _phase(ctx, value, f"{where}.{name}", name in ("inhale", "exhale"))
            if seconds is not None:
                phases[name] = seconds
    missing = [p for p in ("inhale", "exhale") if p not in keys]
    if missing:
        ctx.error(node, where, f"missing {' and '.join(missing)}; e.g. {{inhale: 4, exhale: 6}}")
        return None
    if len(phases) != len(keys):
        return None
    return BreathPattern(**phases)


def _phase(ctx: _Ctx, node: yaml.Node, where: str, required: bool) -> float | None:
    """A phase in seconds: 0 (hold and rest only) or from ``MIN_PHASE``, since a cue
    shorter than that cannot be followed and a 1 ms phase makes millions of cues."""
    seconds = _duration(ctx, node, where, positive=required, limit=MAX_PHASE)
    if seconds is not None and 0 < seconds < MIN_PHASE:
        zero = "" if required else " (or 0 to leave it out)"
        ctx.error(
            node, where, f"{seconds:g} s is too short; a phase lasts at least {MIN_PHASE:g} s{zero}"
        )
        return None
    return seconds


def _timer(ctx: _Ctx, keys: dict, where: str, mark: Mark, depth: int) -> Step | None:
    seconds = _duration(ctx, keys["timer"][1], where)
    say = _text(ctx, keys["say"][1], f"{where}.say") if "say" in keys else ""
    sides: tuple[str, ...] = ()
    if "sides" in keys:
        node = keys["sides"][1]
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            ctx.error(node, f"{where}.sides", "expected a list like [left, right]")
        else:
            sides = tuple(
                s for i, n in enumerate(node.value) if (s := _text(ctx, n, f"{where}.sides[{i}]"))
            )
    if say and "{side}" in say and not sides:
        ctx.error(
            keys["say"][1],
            f"{where}.say",
            "uses {side} but the timer has no 'sides'; add sides: [left, right]",
        )
    every = _every(ctx, keys, f"{where}.every", seconds) if "every" in keys else 0.0
    bell: str | Path | None = "soft"
    if "bell" in keys:
        bell = _sound(ctx, keys["bell"][1], f"{where}.bell", BELLS, "bell")
    if seconds is None or say is None or bell is None:
        return None
    return Timer(duration=seconds, say=say, sides=sides, every=every, bell=bell, mark=mark)


def _every(ctx: _Ctx, keys: dict, where: str, timer: float | None) -> float:
    """Seconds between bells: at least ``MIN_EVERY`` (a bell is seconds long) and shorter than
    the timer, since a bell is never rung at its very end."""
    node = keys["every"][1]
    every = _duration(ctx, node, where)
    if every is None:
        return 0.0
    if every < MIN_EVERY:
        ctx.error(
            node,
            where,
            f"every: {node.value} is too short; bells ring at most once a second (every: 1s)",
        )
        return 0.0
    if timer is not None and every >= timer:
        than = "longer than" if every > timer else "as long as"
        ctx.error(
            node,
            where,
            f"every: {node.value} is {than} the timer ({keys['timer'][1].value}); no bell would "
            "ring: make it shorter or leave it out",
        )
        return 0.0
    return every


def _repeat(ctx: _Ctx, keys: dict, where: str, mark: Mark, depth: int) -> Step | None:
    count = _int(ctx, keys["repeat"][1], where, 1, MAX_REPEAT)
    if "steps" not in keys:
        ctx.error(keys["repeat"][0], where, "missing 'steps': the steps to repeat", 6)
        return None
    if depth + 1 > MAX_DEPTH:
        ctx.error(keys["steps"][1], where, f"repeats nested more than {MAX_DEPTH} deep")
        return None
    steps = _steps(ctx, keys["steps"][1], f"{where}.steps", depth + 1)
    if count is None or not steps:
        return None
    return Repeat(count=count, steps=steps, mark=mark)


_STEP_BUILDERS = {
    "section": _section,
    "say": _say,
    "pause": _pause,
    "play": _play,
    "bell": _bell,
    "breathe": _breathe,
    "timer": _timer,
    "repeat": _repeat,
}
