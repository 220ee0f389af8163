"""The layers of an image, one row each, with the empty history steps (ENV, LABEL…) dimmed
between them; a row shows the layer's size, a bar, its changes and its command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from layerscope.model.image import Image, Layer
from layerscope.model.kinds import CHANGES
from layerscope.read.config import HistoryStep
from layerscope.ui.loading import FAILED, READING, LayerLoad
from layerscope.ui.widgets.styling import ComponentStyles
from layerscope.views import labels

BAR_WIDTH = 10


def _counts(layer: Layer) -> tuple[int, ...]:
    """The layer's change counts, in kinds.CHANGES order."""
    ch = layer.changes
    return tuple(getattr(ch, kind.label) for kind in CHANGES)


@dataclass
class Columns:
    """Widths shared by every row of one image, so columns line up."""

    index: int  # digits of the last layer's index
    changes: tuple[int, ...]  # digits of each count, in kinds.CHANGES order

    @property
    def changes_width(self) -> int:
        return sum(self.changes) + 2 * len(self.changes) - 1


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

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.image: Image | None = None
        self.loads: dict[object, LayerLoad] = {}
        self.analysed = False
        self.columns = Columns(1, (1, 1, 1, 1, 1))
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
        before = self.columns
        self._measure()
        self.largest = self._largest()
        if before != self.columns:
            self.show(self.image, self.loads, self.analysed, self.position)
            return
        for layer in self.image.layers:
            self.replace_option_prompt(f"layer-{layer.position}", self._layer_prompt(layer))

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
        self.highlighted = self._index_of(position)

    def _index_of(self, position: int) -> int:
        try:
            return self.get_option_index(f"layer-{position}")
        except OptionDoesNotExist:  # an image with no such layer: the first row
            return 0

    def header(self) -> Text:
        c = self.columns
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{'#':>{c.index}}  {'size':>8} {'':{BAR_WIDTH}} ")
        text.append(f"{'changes':<{c.changes_width}} ")
        text.append("command")
        return text

    # -- rows -------------------------------------------------------------------------------------
    def _measure(self) -> None:
        image = self.image
        assert image is not None
        digits: tuple[int, ...] = (1,) * len(CHANGES)
        if self.analysed:
            for layer in image.layers:
                counts = _counts(layer)
                digits = tuple(max(d, len(str(n))) for d, n in zip(digits, counts, strict=True))
        self.columns = Columns(len(str(max(len(image.layers) - 1, 0))), digits)

    def _largest(self) -> int:
        assert self.image is not None
        return max((lyr.size for lyr in self.image.layers if lyr.loaded), default=0)

    def _layer_prompt(self, layer: Layer) -> Text:
        style = self.component_style
        c = self.columns
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(f"{layer.position:>{c.index}}  ", style("layer-list--index"))
        load = self.loads.get(layer.spec.location)
        if layer.loaded:
            text.append(f"{labels.size(layer.size):>8} ", style("layer-list--size"))
            text.append(labels.bar(layer.size, self.largest, BAR_WIDTH), style("layer-list--bar"))
        elif load is not None and load.state == FAILED:
            text.append(f"{'failed':>8} ", style("layer-list--failed"))
            text.append(f"{'✗ see details':<{BAR_WIDTH}}"[:BAR_WIDTH], style("layer-list--failed"))
        elif load is not None and load.state == READING:
            text.append(f"{load.fraction * 100:>6.0f} % ", style("layer-list--progress"))
            text.append(
                labels.progress_bar(load.fraction, BAR_WIDTH), style("layer-list--progress")
            )
        else:
            text.append(f"{labels.size(layer.stored_size):>8} ", style("layer-list--waiting"))
            text.append(f"{'stored':<{BAR_WIDTH}}", style("layer-list--waiting"))
        text.append(" ")
        if self.analysed:
            for kind, n, width in zip(CHANGES, _counts(layer), c.changes, strict=True):
                text.append(f"{kind.mark}{n:<{width}} ", style(f"layer-list--{kind.label}"))
        else:
            text.append(" " * (c.changes_width + 1))
        text.append(
            labels.command(layer.created_by) or "(no history)", style("layer-list--command")
        )
        return text

    def _step_prompt(self, step: HistoryStep) -> Text:
        c = self.columns
        indent = c.index + 2 + 9 + BAR_WIDTH + 1 + c.changes_width + 1
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(" " * (indent - 2) + "· ", self.component_style("layer-list--step"))
        text.append(labels.command(step.created_by), self.component_style("layer-list--step"))
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
