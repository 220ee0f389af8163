"""Strings from an image made safe to show: every control, bidi and invisible formatting character
becomes a visible escape, and bytes that were not UTF-8 show as `\\xNN`.

Everything an archive says (names, link targets, tags, history commands, env, labels, file
contents, the member names inside error messages) is hostile: an ESC or OSC sequence in it would
drive the user's terminal (clear the screen, set the title, write the clipboard), a `\\r` or `\\n`
would overwrite or forge lines, and a right-to-left override would make a name read as another.
`visible()` is the one function every output uses before such a string reaches a screen or a
terminal: the app's widgets, notifications and titles, the CLI's lines and errors. (The JSON
report needs nothing more: JSON escapes control characters itself.)

`visible(s)` is the identity for ordinary text, so it costs a single `isprintable()` check in
the common case.
"""

from __future__ import annotations

import unicodedata

# Characters `str.isprintable()` accepts that still change how text is laid out or read: the
# bidi embeddings, overrides and isolates, the marks, and zero-width characters that hide text.
# (isprintable() already rejects every Cc, Cf, Zl, Zp and Zs other than the space, which covers
# most of these; they are listed for clarity and so the set does not depend on Python's tables.)
_INVISIBLE = frozenset(
    "\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff\ufff9\ufffa\ufffb"
)

MAX_MESSAGE = 2000  # characters of a one-line message: names from a hostile archive can be huge


def _escape(c: str) -> str:
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c, f"\\x{code:02x}")
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: str, keep: str = "") -> str:
    """`text` with every control, bidi, invisible or undecodable character shown as an escape
    (`\\x1b`, `\\n`, `\\u202e`, `\\xff`); ordinary text (any script, emoji) is left as it is.
    Characters in `keep` (a tab, for file contents) are left as they are."""
    if text.isprintable() and not _INVISIBLE.intersection(text):
        return text
    return "".join(
        c if (c.isprintable() and c not in _INVISIBLE) or c in keep else _escape(c) for c in text
    )


def visible_lines(text: str) -> list[str]:
    """`text` split at its line ends (`\\n`, `\\r\\n`), each line made visible but for its tabs:
    for file contents shown as lines (a lone `\\r` and every other control shows as an escape)."""
    lines = text.split("\n")
    return [visible(line[:-1] if line.endswith("\r") else line, keep="\t") for line in lines]


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """A message as one visible line, a huge one cut in the middle (for errors and CLI lines)."""
    if len(text) > limit:
        text = text[: limit // 2] + " [...] " + text[-limit // 4 :]
    return visible(text)


def cells(text: str) -> int:
    """Terminal cells `text` takes: wide (East Asian wide/full-width) characters take two,
    combining marks none. For visible text (after `visible()`), which has no controls."""
    if text.isascii():
        return len(text)
    return sum(_cell(c) for c in text)


def _cell(c: str) -> int:
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def middle_cut(text: str, width: int, mark: str = "…") -> str:
    """`text` in at most `width` cells, cut in the middle so that both ends stay: a long path
    keeps its first directories and its file name (`/usr/share/…/python3/dist/x.py`). The end
    gets the larger part, since the name at the end is what a reader looks for."""
    if cells(text) <= width:
        return text
    if width <= len(mark):
        return mark[:width] if width > 0 else ""
    room = width - cells(mark)
    tail_room = room - room // 3
    head, tail = [], []
    used = 0
    for c in reversed(text):
        w = _cell(c)
        if used + w > tail_room:
            break
        tail.append(c)
        used += w
    head_room = room - used
    used = 0
    for c in text:
        w = _cell(c)
        if used + w > head_room:
            break
        head.append(c)
        used += w
    return "".join(head) + mark + "".join(reversed(tail))
