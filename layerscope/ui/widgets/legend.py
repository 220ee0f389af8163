"""The line above the file tree: how many entries of the view bear each mark, which kinds are
hidden (keys 1-7; struck out), and how many entries a filter shows.

It counts marks, not changes: an entry a later layer hides is marked hidden (×), not added, and
a path removed and made again shows its new mark; so these counts can differ from the layer's
change counts in the Layers pane (README: The numbers). The line fits its width: counts in full
with their names, then abbreviated (`21k`), then marks only, so that the state of every kind
stays on screen."""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text

from layerscope.model.kinds import Kind
from layerscope.views import labels
from layerscope.views.listing import FILTER_KINDS
from layerscope.views.outline import Outline

TITLE = "marks:"  # what the counts count


def legend(outline: Outline | None, width: int, style: Callable[[str], Style]) -> Text:
    """The line for the rows of `outline`, in at most `width` cells if it can be: `style(name)`
    gives the file tree's component styles (`file-tree--added`, `file-tree--legend-off`, …)."""
    if outline is None:
        return Text()
    line = Text()
    for level in range(4):
        line = _line(outline, level, style)
        if line.cell_len <= width:
            break
    line.no_wrap = True
    line.overflow = "ellipsis"
    return line


def _line(outline: Outline, level: int, style: Callable[[str], Style]) -> Text:
    """Level 0: names and exact counts; 1: counts abbreviated; 2: marks only; 3: no title."""
    view = outline.view
    hide = outline.listing.filter.hide
    count = (lambda n: f"{n:,}") if level == 0 else labels.short_count
    text = Text(end="")
    if level < 3:
        text.append(TITLE + " ", style("file-tree--note"))
    for kind in FILTER_KINDS:
        n = view.count(kind)
        if not n and kind not in hide:
            continue
        mark = Kind.from_label(kind).mark.strip()
        if level >= 2 and mark:
            shown = f"{mark}{count(n)}"
        else:
            shown = f"{mark} {kind} {count(n)}" if mark else f"{kind} {count(n)}"
        text.append(shown, style("file-tree--legend-off" if kind in hide else f"file-tree--{kind}"))
        text.append("  " if level < 2 else " ")
    pending = view.count("pending")
    if pending:
        note = (
            f"{pending:,} entries: changes known once every layer is read"
            if level == 0
            else f"{count(pending)} pending"
        )
        text.append(note + " ", style("file-tree--note"))
    listing = outline.listing
    if listing.filter.active:
        text.append(f"│ {count(listing.matches)} shown", style("file-tree--note"))
    text.rstrip()
    return text
