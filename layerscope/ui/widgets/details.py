"""Key/value panes: the selected layer's details and the image's figures and config.

Most values come from the image (names, refs, platform, history, env, labels, cmd, user, error
messages naming members): every value goes in through `Details._add`, which shows it with
`layerscope.text.visible` as a `rich.text.Text` (never markup). A value of several lines is given
as a list, one visible line each, so a newline inside an archive string cannot forge a line.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from layerscope.model.image import Image, Layer
from layerscope.text import visible
from layerscope.ui.loading import FAILED, READING, LayerLoad
from layerscope.ui.widgets.styling import ComponentStyles
from layerscope.views import headline, labels


class Details(ComponentStyles, Static):
    """A two-column grid of labelled values."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "details--key",
        "details--value",
        "details--dim",
        "details--warning",
        "details--error",
        "details--good",
        "details--heading",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.fields: dict[str, str] = {}  # what it shows, as plain text (for tests and copying)

    def _grid(self) -> Table:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style=self.component_style("details--key"), no_wrap=True)
        grid.add_column(style=self.component_style("details--value"), overflow="fold")
        return grid

    def _add(self, grid: Table, key: str, value: str | list[str], style: str = "") -> None:
        """A row: `key` (ours) and `value` (any text, a list for one line each), shown visibly."""
        lines = value if isinstance(value, list) else [value]
        text = Text("\n".join(visible(line) for line in lines))
        if style:
            text.stylize(self.component_style(f"details--{style}"))
        self.fields[key] = text.plain
        grid.add_row(Text(key), text)

    def _heading(self, grid: Table, title: str) -> None:
        grid.add_row(Text(title, self.component_style("details--heading")), "")


class LayerDetails(Details):
    """Digests, sizes, history and changes of one layer."""

    def show(
        self, layer: Layer, load: LayerLoad | None, analysed: bool, images: list[Image]
    ) -> None:
        self.fields = {}
        grid = self._grid()
        image = layer.image
        self._add(grid, "Layer", f"{layer.position} of {len(image.layers)} (0 is the base)")
        step = layer.history
        self._add(grid, "Command", (step.created_by if step else None) or "—")
        if layer.loaded:
            self._add(
                grid,
                "Size",
                f"{labels.size(layer.size)} ({labels.exact(layer.size)}) in "
                + labels.plural(len(layer), "entry", "entries"),
            )
        elif load is not None and load.state == FAILED:
            self._add(grid, "Error", load.error or "could not be read", "error")
        elif load is not None and load.state == READING:
            verb = "downloading" if layer.spec.location.remote is not None else "reading"
            done = f"{labels.size(load.done)} of {labels.size(load.total)}"
            rate = f", {labels.size(int(load.rate))}/s" if load.rate is not None else ""
            self._add(
                grid, "Size", f"{verb}… {labels.percent(load.fraction)} ({done}{rate})", "dim"
            )
        else:
            self._add(grid, "Size", "waiting to be read", "dim")
        if analysed:
            ch = layer.changes
            self._add(
                grid,
                "Changes",
                f"{ch.added:,} added, {ch.modified:,} modified, {ch.metadata:,} metadata only, "
                f"{ch.rewritten:,} rewritten, {ch.removed:,} removed",
            )
        compression = layer.compression or "—"
        self._add(
            grid,
            "Stored",
            f"{labels.size(layer.stored_size)} ({labels.exact(layer.stored_size)}), {compression}",
        )
        self._add(grid, "Created", (step.created if step else None) or "—")
        if step is not None and step.author:
            self._add(grid, "Author", step.author)
        if step is not None and step.comment:
            self._add(grid, "Comment", step.comment)
        if not image.config.history_aligned:
            self._add(
                grid, "History", "does not line up with the layers: not attributed", "warning"
            )
        self._add(grid, "Diff ID", layer.diff_id)
        if layer.digest != layer.diff_id:
            self._add(grid, "Digest", layer.digest)
        shared = [
            f"{img.name} #{other.position}"
            for img in images
            for other in img.layers
            if other.spec.location == layer.spec.location and other is not layer
        ]
        if shared:
            self._add(grid, "Shared with", ", ".join(shared))
        self.update(grid)


class ImageDetails(Details):
    """What an image is, what it weighs and wastes, and its runtime config."""

    def show(self, image: Image, analysed: bool, failed: list[int], count: int = 1) -> None:
        self.fields = {}
        grid = self._grid()
        self._add(
            grid, "Image", image.name + (f"  ({image.number + 1} of {count})" if count > 1 else "")
        )
        if len(image.refs) > 1:
            self._add(grid, "Refs", ", ".join(image.refs))
        self._add(grid, "Platform", image.platform)
        self._add(grid, "Config", image.config_digest)
        self._add(grid, "Format", image.spec.format)
        self._add(grid, "Created", image.config.created or "—")
        self._add(grid, "Layers", f"{len(image.layers)} ({len(image.history)} history steps)")
        self._add(grid, "Stored", labels.size(image.stored_size))
        if failed:
            which = ", ".join(str(p) for p in failed)
            self._add(
                grid, "Error", f"layer {which} could not be read: figures unavailable", "error"
            )
        if analysed:
            fig = {f.name: f for f in headline.headline(image, analysed)}
            self._add(grid, headline.SIZE, f"{fig[headline.SIZE].value} (sum of the layers)")
            self._add(
                grid,
                headline.FINAL_SIZE,
                f"{fig[headline.FINAL_SIZE].value} in {image.final_files:,} files",
            )
            reclaimable = fig[headline.RECLAIMABLE]
            self._add(
                grid,
                headline.RECLAIMABLE,
                f"{reclaimable.value} hidden by later layers",
                reclaimable.tone,
            )
            self._add(grid, "Duplicate bytes", labels.size(image.duplicate_bytes))
            if image.through_symlink:
                self._add(
                    grid,
                    "Engines",
                    f"{labels.plural(image.through_symlink, 'entry', 'entries')} under a lower "
                    f"layer's symlink: placed as {image.apply} storage does; other engines "
                    "differ (--apply)",
                    "warning",
                )
            self._dive(grid, image, fig[headline.DIVE])
        elif not failed:
            self._add(grid, headline.SIZE, "pending: reading layers…", "dim")
        config = image.config
        self._heading(grid, "Config")
        self._add(grid, "Entrypoint", _argv(config.entrypoint))
        self._add(grid, "Cmd", _argv(config.cmd))
        self._add(grid, "User", config.user or "— (root)")
        self._add(grid, "Workdir", config.workdir or "— (/)")
        self._add(grid, "Env", list(config.env) or "—")
        label_lines = [f"{k}={v}" for k, v in sorted(config.labels.items())]
        self._add(grid, "Labels", label_lines or "—")
        for note in image.spec.notes:
            self._add(grid, "Note", note, "warning")
        self.update(grid)

    def _dive(self, grid: Table, image: Image, efficiency: headline.Figure) -> None:
        """dive's figures of an analysed image (worked out with the analysis, in the loader's
        thread); a figure dive cannot compute (0/0) shows as "—"."""
        dive = image.dive
        text = (
            f"efficiency {efficiency.value}, wasted {labels.size(dive.wasted_bytes)}, "
            f"user wasted {labels.percent(dive.user_wasted_fraction)}"
        )
        self._add(grid, "dive", text, efficiency.tone)


def _argv(argv: list[str] | None) -> str:
    if argv is None:
        return "—"
    return " ".join(_quote(a) for a in argv)


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_./=:,@%+" for c in arg) else repr(arg)
