"""How values read on screen: sizes, bars, commands, percentages (plain strings, no Textual).

A command comes from an image: `command()` returns it visible (`layerscope.text.visible`), its
control, escape and bidi characters shown as escapes. It is still text, not markup: it goes into
a widget as a `rich.text.Text` (or through `ui.untrusted`), never as a `str` Textual would parse.
"""

from __future__ import annotations

import math
import re

from layerscope.text import visible

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
