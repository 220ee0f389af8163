"""The layers of an image, one row each, with the empty history steps (ENV, LABEL…) dimmed
between them; a row shows the layer's size, a bar, its changes and its command.

The row fits the pane's width: before anything is cut, zero counts are left blank (and a kind no
layer has is left out), then counts are abbreviated (`21k`), then the bar narrows; the command
always keeps COMMAND_MIN cells. The exact counts are in the Layer pane and the status line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from layerscope.model.image import Image, Layer
from layerscope.model.kinds import CHANGES
from layerscope.read.config import HistoryStep
from layerscope.text import cells
from layerscope.ui.loading import FAILED, READING, LayerLoad
from layerscope.ui.widgets.styling import ComponentStyles
from layerscope.views import labels

BAR_WIDTH = 10  # the bar's cells when there is room
BAR_MIN = 3  # a bar narrower than this is left out
SIZE_WIDTH = 7  # "1.4 kB", "23.5 MB", "100 %"
COMMAND_MIN = 12  # cells the command keeps, whatever the width
CHANGES_TITLE = "changes"


def _counts(layer: Layer) -> tuple[int, ...]:
    """The layer's change counts, in kinds.CHANGES order."""
    ch = layer.changes
    return tuple(getattr(ch, kind.label) for kind in CHANGES)


@dataclass(frozen=True)
class RowLayout:
    """How every row of one image reads at one width, so that columns line up: the index's
    digits, the bar's cells, and per kind of change (kinds.CHANGES order) the cells of its
    count, 0 for a kind left out; `short` counts are abbreviated, `zeros` shown."""

    index: int
    bar: int
    counts: tuple[int, ...]
    short: bool = False
    zeros: bool = True

    @property
    def changes_width(self) -> int:
        """Cells of the changes column: each kind kept is its mark and its count."""
        kept = [w for w in self.counts if w]
        return max(sum(kept) + 2 * len(kept) - 1, len(CHANGES_TITLE))

    @property
    def command_column(self) -> int:
        """The cell the command starts at."""
        bar = self.bar + 1 if self.bar else 0
        return self.index + 2 + SIZE_WIDTH + 1 + bar + self.changes_width + 1

    def count_text(self, n: int) -> str:
        if not n and not self.zeros:
            return ""
        return labels.short_count(n) if self.short else str(n)


def fit_layout(
    index: int, counts: list[tuple[int, ...]] | None, width: int, command: int = 0
) -> RowLayout:
    """The roomiest layout whose row fits `width` cells: counts in full with their zeros if
    the longest command (`command` cells) fits whole; else, with COMMAND_MIN cells for the
    command, counts without zeros, the bar narrowing (to BAR_MIN) or left out; abbreviated,
    the bar narrowing again; else the narrowest, the command getting less. `counts` is every
    layer's change counts (None before the image is analysed)."""
    if counts is None:
        levels = [RowLayout(index, BAR_WIDTH, (1,) * len(CHANGES))]
    else:
        columns: list[tuple[int, ...]] = [tuple(c) for c in zip(*counts, strict=True)]
        columns = columns or [()] * len(CHANGES)
        full = tuple(max((len(str(n)) for n in c), default=1) for c in columns)
        levels = [
            RowLayout(index, BAR_WIDTH, full),
            RowLayout(index, BAR_WIDTH, _widths(columns, str), zeros=False),
            RowLayout(index, BAR_WIDTH, _widths(columns, labels.short_count), True, False),
        ]
    if levels[0].command_column + max(command, COMMAND_MIN) <= width:
        return levels[0]  # nothing is cut
    candidates = []  # zeros go before anything is cut; the bar narrows before counts do
    for layout in levels[1:] or levels:
        no_bar = replace(layout, bar=0)
        bar = min(width - COMMAND_MIN - no_bar.command_column - 1, BAR_WIDTH)
        narrower = [replace(layout, bar=bar)] if BAR_MIN <= bar < BAR_WIDTH else []
        candidates += [layout, *narrower, no_bar]
    return next((c for c in candidates if c.command_column + COMMAND_MIN <= width), candidates[-1])


def _widths(columns: list[tuple[int, ...]], write: Callable[[int], str]) -> tuple[int, ...]:
    """Cells of each kind's counts as `write` writes them; 0 for a kind no layer has."""
    return tuple(max((len(write(n)) for n in c if n), default=0) for c in columns)


class LayerList(ComponentStyles, OptionList):
    """Pick a layer: moving the highlight selects it (the screen follows)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "cursor_down", "Down", show=False, id="layers.down"),
        Binding("up,k", "cursor_up", "Up", show=False, id="layers.up"),
        Binding("home,g", "first", "First", show=False, id="layers.first"),
        Binding("end,G", "last", "Last", show=False, id="layers.last"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "layer-list--index",
        "layer-list--size",
        "layer-list--bar",
        "layer-list--progress",
        "layer-list--waiting",
        "layer-list--failed",
        *(f"layer-list--{kind.label}" for kind in CHANGES),
        "layer-list--command",
        "layer-list--step",
    }

    class Selected(Message):
        """The highlighted layer changed."""

        def __init__(self, layers: LayerList, position: int) -> None:
            super().__init__()
            self.layers = layers
            self.position = position

        @property
        def control(self) -> LayerList:
            return self.layers

    class LayoutChanged(Message):
        """The columns changed with the width: the header above the rows is to be redrawn."""

        def __init__(self, layers: LayerList) -> None:
            super().__init__()
            self.layers = layers

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.image: Image | None = None
        self.loads: dict[object, LayerLoad] = {}
        self.analysed = False
        self.row_layout = fit_layout(1, None, 80)
        self.largest = 0  # the size of the largest layer read: the bars' scale

    # -- content ---------------------------------------------------------------------------------
    def show(
        self,
        image: Image,
        loads: dict[object, LayerLoad],
        analysed: bool,
        position: int = 0,
    ) -> None:
        """Show an image's layers, highlighting `position`."""
        self.image = image
        self.loads = loads
        self.analysed = analysed
        self._measure()
        self.largest = self._largest()
        options: list[Option] = []
        for item in _rows(image):
            if isinstance(item, Layer):
                options.append(Option(self._layer_prompt(item), id=f"layer-{item.position}"))
            else:
                options.append(Option(self._step_prompt(item), disabled=True))
        with self.prevent(OptionList.OptionHighlighted):
            self.set_options(options)
            self.highlighted = self._index_of(position)

    def refresh_layers(self, analysed: bool | None = None) -> None:
        """Redraw every layer row (a layer read, the image analysed, progress)."""
        if self.image is None:
            return
        if analysed is not None:
            self.analysed = analysed
        before = self.row_layout
        self._measure()
        self.largest = self._largest()
        if before != self.row_layout:
            self.show(self.image, self.loads, self.analysed, self.position)
            return
        for layer in self.image.layers:
            self.replace_option_prompt(f"layer-{layer.position}", self._layer_prompt(layer))

    def on_resize(self, event: events.Resize) -> None:
        """Another width may call for another layout: the rows are made again if it does."""
        if self.image is not None and self._fit() != self.row_layout:
            self.show(self.image, self.loads, self.analysed, self.position)
            self.post_message(self.LayoutChanged(self))

    def layer_read(self, location: object) -> None:
        """A layer blob was read: redraw its rows, or every row when it changes the bars'
        scale (a redraw of every row for each of a hundred layers read was slow)."""
        if self.image is None:
            return
        if self._largest() != self.largest:
            self.refresh_layers()
        else:
            self.refresh_layer(location)

    def refresh_layer(self, location: object) -> None:
        """Redraw the rows of the layers stored in one blob."""
        if self.image is None:
            return
        for layer in self.image.layers:
            if layer.spec.location == location:
                self.replace_option_prompt(f"layer-{layer.position}", self._layer_prompt(layer))

    @property
    def position(self) -> int:
        """The highlighted layer."""
        if self.highlighted is None:
            return 0
        option_id = self.get_option_at_index(self.highlighted).id or "layer-0"
        return int(option_id.removeprefix("layer-"))

    def select_layer(self, position: int) -> None:
        """Highlight a layer the screen chose: no `Selected` echoes back (two keys in flight
        would otherwise chase each other between two layers for ever)."""
        with self.prevent(OptionList.OptionHighlighted):
            self.highlighted = self._index_of(position)

    def _index_of(self, position: int) -> int:
        try:
            return self.get_option_index(f"layer-{position}")
        except OptionDoesNotExist:  # an image with no such layer: the first row
            return 0

    def header(self) -> Text:
        """The line above the rows, naming the columns where they are."""
        c = self.row_layout
        text = Text(no_wrap=True, overflow="ellipsis")
        bar = " " * (c.bar + 1) if c.bar else ""
        text.append(f"{'#':>{c.index}}  {'size':>{SIZE_WIDTH}} {bar}")
        text.append(f"{CHANGES_TITLE:<{c.changes_width}} ")
        text.append("command")
        return text

    # -- rows -------------------------------------------------------------------------------------
    def _fit(self) -> RowLayout:
        image = self.image
        assert image is not None
        counts = [_counts(layer) for layer in image.layers] if self.analysed else None
        width = self.scrollable_content_region.width or 80
        command = max((cells(_command(item)) for item in _rows(image)), default=0)
        return fit_layout(len(str(max(len(image.layers) - 1, 0))), counts, width, command)

    def _measure(self) -> None:
        self.row_layout = self._fit()

    def _largest(self) -> int:
        assert self.image is not None
        return max((lyr.size for lyr in self.image.layers if lyr.loaded), default=0)

    def _layer_prompt(self, layer: Layer) -> Text:
        style = self.component_style
        c = self.row_layout
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(f"{layer.position:>{c.index}}  ", style("layer-list--index"))
        load = self.loads.get(layer.spec.location)
        if layer.loaded:
            size, bar, what = (
                labels.size(layer.size),
                labels.bar(layer.size, self.largest, c.bar),
                "bar",
            )
        elif load is not None and load.state == FAILED:
            size, bar, what = "failed", "✗ see details", "failed"
        elif load is not None and load.state == READING:
            size = f"{load.fraction * 100:.0f} %"
            bar, what = labels.progress_bar(load.fraction, c.bar), "progress"
        else:
            size, bar, what = labels.size(layer.stored_size), "stored", "waiting"
        size_style = "size" if what == "bar" else what
        text.append(f"{size:>{SIZE_WIDTH}} ", style(f"layer-list--{size_style}"))
        if c.bar:
            text.append(f"{bar:<{c.bar}}"[: c.bar] + " ", style(f"layer-list--{what}"))
        if self.analysed:
            kept = [
                (kind, n, width)
                for kind, n, width in zip(CHANGES, _counts(layer), c.counts, strict=True)
                if width
            ]
            used = 0
            for kind, n, width in kept:
                count = c.count_text(n)
                cell = f"{kind.mark}{count:<{width}} " if count else " " * (width + 2)
                text.append(cell, style(f"layer-list--{kind.label}"))
                used += len(cell)
            text.append(" " * (c.changes_width + 1 - used))
        else:
            text.append(" " * (c.changes_width + 1))
        text.append(_command(layer), style("layer-list--command"))
        return text

    def _step_prompt(self, step: HistoryStep) -> Text:
        indent = self.row_layout.command_column
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(" " * (indent - 2) + "· ", self.component_style("layer-list--step"))
        text.append(_command(step), self.component_style("layer-list--step"))
        return text

    def action_cursor_down(self) -> None:
        """Down, stopping at the last layer (no wrapping round to the first)."""
        if self.highlighted is not None and not any(
            not opt.disabled for opt in self.options[self.highlighted + 1 :]
        ):
            return
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        """Up, stopping at the first layer."""
        if self.highlighted is not None and not any(
            not opt.disabled for opt in self.options[: self.highlighted]
        ):
            return
        super().action_cursor_up()

    def _on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id and event.option.id.startswith("layer-"):
            self.post_message(self.Selected(self, int(event.option.id.removeprefix("layer-"))))

    def _on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()


def _command(item: Layer | HistoryStep) -> str:
    """A row's command as the row shows it (visible: from the image)."""
    if isinstance(item, Layer):
        return labels.command(item.created_by) or "(no history)"
    return labels.command(item.created_by)


def _rows(image: Image) -> list[Layer | HistoryStep]:
    """Layers and empty history steps in history order, layers no step names last; a history
    that does not line up with the layers is shown whole after them, attributed to none."""
    rows: list[Layer | HistoryStep] = []
    if image.config.history_aligned and image.history:
        for step in image.history:
            if step.layer is not None:
                rows.append(image.layers[step.layer])
            elif step.empty_layer:
                rows.append(step)
        named = {step.layer for step in image.history if step.layer is not None}
        for layer in image.layers:
            if layer.position not in named:
                rows.append(layer)
        return rows
    rows = [*image.layers, *image.history]
    return rows
