"""The summary strip at the top of the main screen: the image's headline figures and its top
wastes, on two lines (three below about 130 columns) that fit any width from 80 columns, so
that what dive users look at first is never below the fold.

The figures are the Image pane's (views/headline.py), with the same names and values. A top
waste's path comes from the image: it is made visible (`untrusted.text`) and shortened in the
middle so that its file name stays; the strip parses no markup. A click on a waste (or `b`, on
the main screen) goes to it; a click on Reclaimable opens the waste view, on Findings or Secrets
the findings view. Secrets, when an image has any, come first, on the error colour's background:
they cannot be missed; the findings come last, on a line of their own when one is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget

from layerscope.model.figures import Hidden
from layerscope.text import cells, visible
from layerscope.ui.widgets.styling import ComponentStyles
from layerscope.views import headline, labels
from layerscope.views.headline import Figure

GAP = "  "  # between two items of a line
WASTES = "Top wastes (b):"
MIN_PATH = 16  # cells a waste's path keeps at least (its file name's end, at worst)
MAX_LINES = 3  # the strip's height at most: two lines from about 130 columns, three below


@dataclass
class Jump(Message):
    """Go to top waste number `index` (from 0)."""

    index: int


class SummaryStrip(ComponentStyles, Widget):
    """Two lines: the headline figures; the top wastes, each clickable."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "summary-strip--name",
        "summary-strip--value",
        "summary-strip--good",
        "summary-strip--warning",
        "summary-strip--pending",
        "summary-strip--error",
        "summary-strip--alert",
        "summary-strip--path",
        "summary-strip--size",
        "summary-strip--note",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.figures: list[Figure] = []
        self.wastes: list[Hidden] = []
        self.after: list[Figure] = []  # figures on a line of their own, after the wastes
        self.note = ""  # what is under way (the layers being read)
        self._title = Text()  # the title of the wastes, as last laid out

    def show(
        self,
        figures: list[Figure],
        wastes: list[Hidden],
        note: str = "",
        after: list[Figure] | None = None,
    ) -> None:
        """Show these figures and wastes (`note`: what is still being worked out), then the
        figures `after`, on a line of their own when one is left."""
        self.figures, self.wastes, self.note = figures, wastes, note
        self.after = after or []
        self.refresh(layout=True)  # it may take another number of lines

    @property
    def lines(self) -> list[str]:
        """What the strip shows, as plain text (for tests and the status line)."""
        return self.render().plain.split("\n")

    # -- drawing ---------------------------------------------------------------------------------
    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines_for(max(width, 20)))

    def render(self) -> Text:
        lines = self.lines_for(max(self.content_region.width, 20))
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        for i, line in enumerate(lines):
            if i:
                out.append("\n")
            out.append_text(line)
        return out

    def lines_for(self, width: int) -> list[Text]:
        """The strip in lines of `width` cells, as few as hold it (MAX_LINES at most): the
        figures flow first (and what is under way), then the top wastes, each path given the
        same room, at least MIN_PATH cells (a waste that would get less moves to the next
        line, or is left out)."""
        items: list[Text | Hidden] = [self._figure(fig) for fig in self.figures]
        if self.note:
            items.append(Text(self.note, self.component_style("summary-strip--note")))
        title = self._wastes_title()
        wastes = self._known_wastes()
        lines: list[list[Text | Hidden]] = [[]]
        for item in [*items, title, *wastes]:
            # the title goes with the first waste
            need = [item, wastes[0]] if item is title and wastes else [item]
            if lines[-1] and _min_width([*lines[-1], *need]) > width:
                if len(lines) == MAX_LINES:
                    break
                lines.append([])
            lines[-1].append(item)
        if self.after and len(lines) < MAX_LINES:
            lines.append([])
            for fig in self.after:
                item = self._figure(fig)
                if lines[-1] and _min_width([*lines[-1], item]) > width:
                    if len(lines) == MAX_LINES:
                        break
                    lines.append([])
                lines[-1].append(item)
        return [self._line(line, width) for line in lines]

    def _line(self, items: list[Text | Hidden], width: int) -> Text:
        """One line: its fixed pieces as they are, its wastes sharing what room is left."""
        wastes = [item for item in items if isinstance(item, Hidden)]
        fixed = [item for item in items if isinstance(item, Text)]
        room = width - sum(t.cell_len for t in fixed) - len(GAP) * (len(items) - 1)
        paths = [_path(h) for h in wastes]
        sizes = [labels.size(h.size) for h in wastes]
        widths = iter(_shares(paths, sizes, room))
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        for i, item in enumerate(items):
            if i:
                line.append(" " if items[i - 1] is self._title else GAP)
            if isinstance(item, Text):
                line.append_text(item)
            else:
                line.append_text(self._waste(item, next(widths)))
        return line

    def _figure(self, fig: Figure) -> Text:
        style = self.component_style
        text = Text(no_wrap=True, end="")
        text.append(fig.name, style("summary-strip--name"))
        text.append(" ")
        tone = f"summary-strip--{fig.tone}" if fig.tone else "summary-strip--value"
        text.append(fig.value, style(tone))
        if fig.name == headline.RECLAIMABLE and fig.known:
            text.stylize(Style.from_meta({"@click": "screen.waste"}))
        elif fig.name in (headline.FINDINGS, headline.SECRETS) and fig.known:
            text.stylize(Style.from_meta({"@click": "screen.findings"}))
        return text

    def _reclaimable(self) -> Figure | None:
        return next((fig for fig in self.figures if fig.name == headline.RECLAIMABLE), None)

    def _wastes_title(self) -> Text:
        """`Top wastes (b):`, and what stands for them while they are not known or none."""
        style = self.component_style
        text = self._title = Text(WASTES, style("summary-strip--name"), no_wrap=True, end="")
        reclaimable = self._reclaimable()
        if reclaimable is None or not reclaimable.known:
            value, tone = (reclaimable.value, reclaimable.tone) if reclaimable else ("", "")
            text.append(" " + value, style(f"summary-strip--{tone or 'pending'}"))
        elif not self.wastes:
            text.append(" none: nothing is reclaimable", style("summary-strip--good"))
        return text

    def _known_wastes(self) -> list[Hidden]:
        reclaimable = self._reclaimable()
        return self.wastes if reclaimable is not None and reclaimable.known else []

    def _waste(self, h: Hidden, width: int) -> Text:
        """A waste in `width` cells for its path, clickable: its number in the strip is its
        place among the top wastes."""
        style = self.component_style
        text = Text(no_wrap=True, end="")
        text.append(labels.path_cut(_path(h), max(width, 1)), style("summary-strip--path"))
        text.append(" " + labels.size(h.size), style("summary-strip--size"))
        text.stylize(Style.from_meta({"@click": f"jump({self.wastes.index(h)})"}))
        return text

    def action_jump(self, index: int) -> None:
        self.post_message(Jump(index))


def _path(h: Hidden) -> str:
    """A waste's path as shown: absolute, visible."""
    return visible("/" + h.path.strip("/"))


def _min_width(items: list[Text | Hidden]) -> int:
    """The fewest cells `items` take on a line: a waste's path cut to MIN_PATH cells."""
    total = len(GAP) * (len(items) - 1)
    for item in items:
        if isinstance(item, Text):
            total += item.cell_len
        else:
            total += min(cells(_path(item)), MIN_PATH) + 1 + len(labels.size(item.size))
    return total


def _shares(paths: list[str], sizes: list[str], room: int) -> list[int]:
    """The cells each path gets so that the wastes (the gaps between them aside) fill at most
    `room` cells: a path that is short keeps its length, the long ones share what is left."""
    fixed = sum(len(s) + 1 for s in sizes)
    left = max(room - fixed, 0)
    want = [cells(p) for p in paths]
    widths = [0] * len(paths)
    pending = sorted(range(len(paths)), key=lambda i: want[i])
    while pending:
        share = left // len(pending)
        i = pending[0]
        if want[i] <= share:
            widths[i] = want[i]
            left -= want[i]
            pending.pop(0)
            continue
        for j in pending:
            widths[j] = share
        break
    return widths
