"""The waste view: every dead byte of an image — hidden entries and duplicated content — grouped
by the layer that stored it, then by the layer that made it dead, largest first, with the reason.
Enter on an entry goes to it in the file tree, at the layer that stored it.

Paths, commands and the image's name come from the archive: shown visibly, as text (see
`screens.insight`); the tree's rows are made visible where they are drawn."""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Header, Static
from textual.worker import get_current_worker

from layerscope.insight.waste import Waste, WasteItem, waste
from layerscope.model.analysis import pack
from layerscope.model.image import Image
from layerscope.text import visible
from layerscope.ui import untrusted
from layerscope.ui.screens.insight import GoTo, InsightScreen, failure
from layerscope.ui.widgets.keybar import KeyBar
from layerscope.ui.widgets.outline import OutlineView
from layerscope.views import labels
from layerscope.views.outline import OutlineNode, Row, open_while_small

OPEN_ROWS = 300  # groups open at first while the rows shown stay under this


def waste_tree(image: Image, found: Waste) -> OutlineNode:
    """Stored layer → layer that made the bytes dead (None: duplicates) → entries."""
    root = OutlineNode("", branch=True)
    layers: dict[int, OutlineNode] = {}
    for (stored, dead_by), items in found.groups().items():
        top = layers.get(stored)
        if top is None:
            top = layers[stored] = root.add(OutlineNode(f"layer {stored}", stored, branch=True))
        group = top.add(OutlineNode("", (stored, dead_by), branch=True))
        for item in items:  # largest first already
            group.add(OutlineNode(item.path, item, item.size))
        group.size = sum(item.size for item in items)
        top.size += group.size
    assert root.children is not None
    root.children.sort(key=lambda n: (-n.size, n.data))
    for top in root.children:
        assert top.children is not None
        top.children.sort(key=lambda n: -n.size)
    return root


class WasteReady(Message):
    def __init__(self, found: Waste, root: OutlineNode) -> None:
        super().__init__()
        self.found = found
        self.root = root


class WasteTree(OutlineView):
    """Rows of the waste view: sizes, groups and entries with their reasons."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *OutlineView.COMPONENT_CLASSES,
        "waste-tree--size",
        "waste-tree--layer",
        "waste-tree--command",
        "waste-tree--reason",
        "waste-tree--duplicate",
        "waste-tree--path",
    }

    def __init__(self, image: Image, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.image = image

    def segments(self, row: Row) -> list[Segment]:
        style = self.component_style
        node = row.node
        out = [
            Segment(f"{labels.size(node.size):>9}  ", style("waste-tree--size")),
            self.connector(row),
        ]
        data = node.data
        if isinstance(data, int):  # a layer that stored dead bytes
            out.append(Segment(f"stored by layer {data}", style("waste-tree--layer")))
            out.append(Segment(f"  {_command(self.image, data)}", style("waste-tree--command")))
            return out
        if isinstance(data, tuple):
            _stored, dead_by = data
            count = labels.plural(len(node.children or ()), "entry", "entries")
            if dead_by is None:
                out.append(
                    Segment("duplicated content, still visible", style("waste-tree--duplicate"))
                )
                out.append(Segment(f"  {count}", style("waste-tree--command")))
            else:
                out.append(Segment(f"made dead by layer {dead_by}", style("waste-tree--layer")))
                out.append(
                    Segment(
                        f"  {count} · {_command(self.image, dead_by)}", style("waste-tree--command")
                    )
                )
            return out
        item: WasteItem = data
        out.append(Segment("/" + item.path, style("waste-tree--path")))
        if item.reason == "duplicate":
            out.append(
                Segment(f"  same bytes as /{item.duplicate_of}", style("waste-tree--duplicate"))
            )
        else:
            out.append(Segment(f"  {item.reason_text}", style("waste-tree--reason")))
        return out


def _command(image: Image, layer: int) -> str:
    """The history command of a layer, as a Dockerfile line, visible (`labels.command`)."""
    return labels.command(image.layers[layer].created_by) or "(no history)"


class WasteScreen(InsightScreen[GoTo | None]):
    """Where the dead bytes of the image on screen are, and which layer to fix (dismissed with
    the entry to go to, or None)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "back", "Back", show=False, id="waste.back"),
        Binding("e", "expand_all", "Expand all", id="waste.expand_all"),
        Binding("c", "collapse_all", "Collapse all", id="waste.collapse_all"),
        Binding("z", "toggle_empty", "Empty entries", id="waste.empty"),
    ]

    def __init__(self, image: Image) -> None:
        super().__init__()
        self.image = image
        self.found: Waste | None = None
        self.root: OutlineNode | None = None
        self.include_empty = False  # hidden entries of no bytes too (directories, links, …)

    def compose(self) -> ComposeResult:
        yield Header(icon="◧")
        yield Static(id="waste-summary", classes="summary")
        with Horizontal(id="waste-main"):
            with Vertical(id="waste-layers-pane", classes="pane"):
                yield DataTable(id="waste-layers", cursor_type="row", zebra_stripes=False)
            with Vertical(id="waste-tree-pane", classes="pane"):
                yield WasteTree(self.image, id="waste-tree")
                yield Static(id="waste-entry", classes="entry-line")
        yield KeyBar()

    @property
    def outline_view(self) -> WasteTree:
        """The tree of dead bytes."""
        return self.query_one(WasteTree)

    def on_mount(self) -> None:
        self.title = "layerscope"
        self.sub_title = f"{visible(self.image.name)}  ·  waste"
        self.query_one("#waste-layers-pane").border_title = "Dead bytes per layer"
        self.query_one("#waste-tree-pane").border_title = "Dead bytes, largest first"
        self.query_one("#waste-summary", Static).update("Finding dead bytes…")
        self.outline_view.show_message("Finding dead bytes…")
        self.outline_view.focus()
        self.compute()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="waste",
        description="Finding dead bytes",
    )
    def compute(self) -> None:
        found = waste(self.image, include_empty=self.include_empty)
        root = waste_tree(self.image, found)
        if not get_current_worker().is_cancelled:
            self.post_message(WasteReady(found, root))

    def on_waste_ready(self, message: WasteReady) -> None:
        self.found, self.root = message.found, message.root
        self._summary(message.found)
        self._per_layer(message.found)
        if not message.found.items:
            self.outline_view.show_message(
                "No dead bytes: nothing is hidden and no content is stored twice."
            )
            return
        self.outline_view.show(message.root, open_while_small(message.root, OPEN_ROWS))

    def show_failure(self, error: BaseException) -> None:
        self.outline_view.show_message(failure("The dead bytes could not be found", error))

    def _summary(self, found: Waste) -> None:
        image = self.image
        hidden = [i for i in found.items if i.reason != "duplicate"]
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(labels.size(found.hidden_bytes), "bold")
        text.append(f" hidden by later layers in {labels.plural(len(hidden), 'entry', 'entries')}")
        if image.size:
            text.append(
                f" ({labels.percent(found.hidden_bytes / image.size)} of {labels.size(image.size)})"
            )
        text.append("  ·  ")
        text.append(labels.size(found.duplicate_bytes), "bold")
        text.append(" in extra copies of the same content")
        worst = max(
            range(len(found.per_layer)), key=lambda n: found.per_layer[n].caused, default=None
        )
        if worst is not None and found.per_layer[worst].caused:
            text.append("  ·  most made dead by ")
            text.append(f"layer {worst}", "bold")
            text.append(f" ({labels.size(found.per_layer[worst].caused)})")
        self.query_one("#waste-summary", Static).update(text)

    def _per_layer(self, found: Waste) -> None:
        table = self.query_one("#waste-layers", DataTable)
        table.clear(columns=True)
        table.add_column("#", key="layer")
        table.add_column(Text("stored", justify="right"), key="stored")
        table.add_column(Text("made dead", justify="right"), key="caused")
        table.add_column("command", key="command")
        for n, lw in enumerate(found.per_layer):
            table.add_row(
                str(n),
                Text(labels.size(lw.stored) if lw.stored else "·", justify="right"),
                Text(labels.size(lw.caused) if lw.caused else "·", justify="right"),
                untrusted.text(_command(self.image, n)),
                key=str(n),
            )

    @on(DataTable.RowSelected, "#waste-layers")
    def _layer_chosen(self, event: DataTable.RowSelected) -> None:
        """Enter or a click on a layer: its dead bytes in the tree (stored, else caused)."""
        if self.root is None or event.row_key.value is None:
            return
        layer = int(event.row_key.value)
        target = None
        for top in self.root.children or ():
            if top.data == layer:
                target = top
                break
            for group in top.children or ():
                if group.data[1] == layer and target is None:
                    target = group
        if target is None:
            self.notify(f"Layer {layer} neither stored nor made dead any byte.")
            return
        self.outline_view.go_to(target)
        self.outline_view.focus()

    @on(OutlineView.Highlighted, "#waste-tree")
    def _entry_line(self, event: OutlineView.Highlighted) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        node = event.node
        if node is not None and isinstance(node.data, WasteItem):
            item = node.data
            text.append(visible("/" + item.path), "bold")
            text.append(f" {labels.exact(item.size)}, stored by layer {item.layer}")
            if item.made_dead_by is not None:
                text.append(f", {item.reason_text} by layer {item.made_dead_by}")
            else:
                text.append(f", same content as /{visible(item.duplicate_of or '')}")
            text.append("  (enter: show it in the file tree)")
        self.query_one("#waste-entry", Static).update(text)

    @on(OutlineView.Chosen, "#waste-tree")
    def _go_to_entry(self, event: OutlineView.Chosen) -> None:
        item = event.node.data
        if isinstance(item, WasteItem):
            path = self.image.analysis.real_path(pack(item.layer, item.row))
            self.dismiss(GoTo(path, item.layer, self.image))

    def action_toggle_empty(self) -> None:
        self.include_empty = not self.include_empty
        what = "with" if self.include_empty else "without"
        self.query_one("#waste-tree-pane").border_subtitle = f"{what} empty entries (z)"
        self.outline_view.show_message("Finding dead bytes…")
        self.compute()

    def action_expand_all(self) -> None:
        if self.root is not None:
            self.outline_view.expand_all(self.root)

    def action_collapse_all(self) -> None:
        if self.root is not None:
            self.outline_view.collapse_all(self.root)
