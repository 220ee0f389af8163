"""How values read on screen: sizes, bars, commands, percentages (plain strings, no Textual).

A command comes from an image: `command()` returns it visible (`layerscope.text.visible`), its
control, escape and bidi characters shown as escapes. It is still text, not markup: it goes into
a widget as a `rich.text.Text` (or through `ui.untrusted`), never as a `str` Textual would parse.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence

from layerscope.text import cells, middle_cut, visible

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")
_BLOCKS = " ▏▎▍▌▋▊▉█"


def size(n: int | None) -> str:
    """Bytes in decimal units, three significant digits: `512 B`, `1.4 kB`, `23.5 MB`."""
    if n is None:
        return "—"
    if n < 1000:
        return f"{n} B"
    value = float(n)
    unit = 0
    while value >= 999.5 and unit < len(_UNITS) - 1:
        value /= 1000
        unit += 1
    if value >= 99.95:
        return f"{value:.0f} {_UNITS[unit]}"
    return f"{value:.1f} {_UNITS[unit]}"


def exact(n: int) -> str:
    """Bytes with thousands separators: `1,397 bytes`."""
    return f"{n:,} bytes" if n != 1 else "1 byte"


def percent(fraction: float | None) -> str:
    if fraction is None or math.isnan(fraction):
        return "—"
    if math.isinf(fraction):
        return "∞"
    return f"{fraction * 100:.1f} %"


def bar(value: int, largest: int, width: int) -> str:
    """A horizontal bar in eighths of a cell, `width` cells for `largest`."""
    if largest <= 0 or width <= 0:
        return " " * max(width, 0)
    eighths = round(value / largest * width * 8)
    if value > 0:
        eighths = max(eighths, 1)
    full, part = divmod(min(eighths, width * 8), 8)
    text = "█" * full + (_BLOCKS[part] if part else "")
    return text.ljust(width)


def progress_bar(fraction: float, width: int) -> str:
    """A progress bar for a layer being read: `███▌░░░░`."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (_BLOCKS[part] if part else "")
    return text + "░" * (width - len(text))


_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_SHELL = re.compile(r"^/bin/sh -c\s+")
_BUILDKIT = re.compile(r"^(RUN|COPY|ADD|ENV|LABEL|WORKDIR|USER|CMD|ENTRYPOINT)\s.*# buildkit$")


def command(created_by: str | None) -> str:
    """A history command as a Dockerfile line: `#(nop)` steps lose their shell prefix,
    `/bin/sh -c X` reads `RUN X`, whitespace runs collapse to one space; every other control
    or bidi character is shown as an escape (`\\x1b`)."""
    if not created_by:
        return ""
    text = created_by.strip()
    if _BUILDKIT.match(text):
        text = text[: -len("# buildkit")].rstrip()
    elif _NOP.match(text):
        text = _NOP.sub("", text)
    elif _SHELL.match(text):
        text = "RUN " + _SHELL.sub("", text)
    return visible(" ".join(text.split()))


def plural(n: int, word: str, words: str | None = None) -> str:
    """`1 layer`, `3 layers`, `2 entries` (with `words` for irregular plurals)."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {words or word + 's'}"


def short_count(n: int) -> str:
    """A count in at most four characters, for a column short of room: `999`, `1.2k`, `21k`,
    `999k`, `1.2M` (the exact count stays in the details)."""
    for unit, scale in (("", 1), ("k", 1_000), ("M", 1_000_000), ("G", 1_000_000_000)):
        value = n / scale
        if unit and value < 9.95:
            return f"{value:.1f}{unit}"
        if round(value) < 1000:
            return f"{round(value)}{unit}"
    return f"{round(n / 1_000_000_000)}G"


_IFMT = {
    "file": 0o100000,
    "hardlink": 0o100000,
    "dir": 0o040000,
    "symlink": 0o120000,
    "char": 0o020000,
    "block": 0o060000,
    "fifo": 0o010000,
}


def mode(bits: int | None, type_: str | None) -> str:
    """Permission bits as `ls -l` shows them: `-rw-r--r--`, `drwxr-xr-x`; `—` when unknown."""
    if bits is None:
        return "—"
    import stat

    return stat.filemode((bits & 0o7777) | _IFMT.get(type_ or "", 0))


def short_digest(digest: str | None, width: int = 12) -> str:
    """`sha256:fb83f93378ff`: enough of a digest to tell two apart at a glance."""
    if not digest:
        return "—"
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:width]}" if hexpart else digest[:width]


def path_cut(path: str, width: int, mark: str = "…") -> str:
    """A path in `width` cells: whole if it fits, else its last name whole with as much of the
    start as fits before it (`/opt/a…/old-plugins/`), else cut in the middle (`middle_cut`)."""
    if cells(path) <= width:
        return path
    tail = _last_name(path)
    room = width - cells(tail) - cells(mark)
    if tail != path and room >= 1:
        head, used = [], 0
        for c in path[: len(path) - len(tail)]:
            used += cells(c)
            if used > room:
                break
            head.append(c)
        return "".join(head) + mark + tail
    return middle_cut(path, width, mark)


def _last_name(path: str) -> str:
    """A path's last name, with the slash before it (and after it, for a directory's)."""
    start = path.rstrip("/").rfind("/")
    return path[start:] if start > 0 else path


def fit_row(name: str, notes: Sequence[str], width: int, keep: int = 10) -> tuple[str, str]:
    """A row's name (a path) and the note after it (`notes`: the note's forms, longest first) in
    `width` cells, two between them. The note is shortened before the name is cut; then the
    longest note is kept with which the name keeps its last name whole (`path_cut`), else the
    shortest, the name cut in the middle, as long as `keep` cells of it stay; below that the
    note goes. `name` and `notes` are visible text."""
    size = cells(name)
    for note in notes:
        if size + 2 + cells(note) <= width:
            return name, note
    if not notes:
        return path_cut(name, width), ""
    tail = cells(_last_name(name))
    for note in notes:
        room = width - 2 - cells(note)
        if room >= tail + 2:  # the mark and a character of the start
            return path_cut(name, room), note
    short = notes[-1]
    room = width - 2 - cells(short)
    if room >= min(size, keep):
        return path_cut(name, room), short
    return path_cut(name, width), ""


def distinct_starts(names: Sequence[str]) -> list[int]:
    """Where each name starts to differ from every other: the start of its word holding the
    first character no other name shares at that place (0 when the names have nothing in
    common, or another name is the same). A word starts after `/`, `-`, `_` or `.`, and at
    `:` or `@` (a tag reads `:1`, a digest `@sha256…`)."""
    order = sorted(range(len(names)), key=lambda i: names[i])
    common = [0] * len(names)  # the longest prefix each shares with another: a sorted neighbour's
    for i, j in itertools.pairwise(order):
        a, b = names[i], names[j]
        n, limit = 0, min(len(a), len(b))
        while n < limit and a[n] == b[n]:
            n += 1
        common[i], common[j] = max(common[i], n), max(common[j], n)
    out = []
    for name, shared in zip(names, common, strict=True):
        starts = _word_starts(name, shared + 1)
        out.append(starts[-1] if starts and shared < len(name) else 0)
    return out


def short_name(name: str, width: int, start: int = 0, mark: str = "…") -> str:
    """An image's name in `width` cells, showing what tells it from the others: whole if it
    fits, else from the first word that fits up to `start` (see `distinct_starts`) with a mark
    for what is left out, else cut in the middle (its tag stays)."""
    if cells(name) <= width:
        return name
    if start > 0:
        for i in _word_starts(name, start + 1):
            if i and cells(name[i:]) + cells(mark) <= width:
                return mark + name[i:]
    return middle_cut(name, width, mark)


def _word_starts(name: str, end: int) -> list[int]:
    """Where the words of `name` start, before `end`."""
    return [
        i + 1 if c in "/-_." else i
        for i, c in enumerate(name[:end])
        if c in "/-_.:@" and (i + 1 if c in "/-_." else i) < end
    ]
