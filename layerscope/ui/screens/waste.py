"""The waste view: the wasted bytes of an image in two separate groups, each total named as the
README and the Image pane name it. **Reclaimable bytes**: every hidden entry, by the layer that
holds it (stored it), then by the layer that hides it, largest first, with how it was hidden; a
directory removed with what lay under it is one row with its total, opened to its entries.
**Duplicate bytes**: each content still visible at several paths, opened to its extra copies.
The layer table on the left counts the reclaimable bytes only, as the tree's first group does.
Enter on an entry goes to it in the file tree, at the layer that stored it.

Paths, commands and the image's name come from the archive: shown visibly, as text (see
`screens.insight`); the tree's rows are made visible where they are drawn. On a narrow screen a
row shortens its reason before its path, and cuts a path in the middle, so its name stays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, Static

from layerscope.insight.waste import (
    DUPLICATE,
    REASONS,
    Copies,
    DeadDir,
    Waste,
    WasteItem,
    waste,
)
from layerscope.model.analysis import pack
from layerscope.model.image import Image
from layerscope.text import cells, visible
from layerscope.ui import untrusted
from layerscope.ui.screens.insight import GoTo, OutlineScreen
from layerscope.ui.widgets.keybar import KeyBar
from layerscope.ui.widgets.outline import OutlineView
from layerscope.views import labels
from layerscope.views.outline import OutlineNode, Row

OPEN_ROWS = 300  # groups open at first while the rows shown stay under this
SIZE_CELLS = 7  # the size column: `99.9 kB`
ALL = "all"  # the key of the layer table's total row


@dataclass(frozen=True)
class Section:
    """One of the two groups at the top of the tree: `reclaimable` or `duplicate` bytes."""

    name: str  # as the README and the Image pane name the total
    what: str  # what it lists: `10 entries hidden by later layers`


@dataclass(frozen=True)
class Held:
    """The reclaimable bytes one layer holds: its stored entries a later layer hides."""

    layer: int


def waste_tree(image: Image, found: Waste) -> OutlineNode:
    """Two groups: the reclaimable bytes (layer that holds them → layer that hides them → a
    removed directory's row or an entry) and the duplicate bytes (a content → its extra
    copies). Each node's size is the sum of its entries'."""
    root = OutlineNode("", branch=True)
    hidden = found.hidden
    reclaimable = root.add(
        OutlineNode(
            "reclaimable bytes",
            Section(
                "reclaimable bytes",
                labels.plural(len(hidden), "entry", "entries") + " hidden by later layers",
            ),
            branch=True,
        )
    )
    layers: dict[int, OutlineNode] = {}
    for (stored, dead_by), listed in found.groups().items():
        top = layers.get(stored)
        if top is None:
            top = layers[stored] = reclaimable.add(OutlineNode("", Held(stored), branch=True))
        group = top.add(OutlineNode("", (stored, dead_by), branch=True))
        for entry in listed:  # largest first already
            if isinstance(entry, DeadDir):
                node = group.add(OutlineNode(entry.path, entry, entry.size, branch=True))
                for item in entry.items:
                    node.add(OutlineNode(item.path, item, item.size))
            else:
                group.add(OutlineNode(entry.path, entry, entry.size))
        group.size = sum(entry.size for entry in listed)
        top.size += group.size
    assert reclaimable.children is not None
    reclaimable.children.sort(key=lambda n: (-n.size, n.data.layer))
    for top in reclaimable.children:
        assert top.children is not None
        top.children.sort(key=lambda n: -n.size)
    reclaimable.size = sum(n.size for n in reclaimable.children)
    extra = sum(len(c.extra) for c in found.copies)
    duplicates = root.add(
        OutlineNode(
            "duplicate bytes",
            Section(
                "duplicate bytes",
                labels.plural(extra, "extra copy", "extra copies") + " of contents still visible",
            ),
            branch=True,
        )
    )
    for copies in found.copies:  # most duplicate bytes first
        node = duplicates.add(OutlineNode(copies.first, copies, copies.extra_bytes, branch=True))
        for item in copies.extra:
            node.add(OutlineNode(item.path, item, item.size))
    duplicates.size = sum(c.extra_bytes for c in found.copies)
    return root


class WasteTree(OutlineView):
    """Rows of the waste view: sizes, groups and entries with their reasons, fitted to the
    width (a reason shortened before a path, a path cut in the middle)."""

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
        node = row.node
        lines = self.connector(row)
        size = Segment(
            f"{labels.size(node.size):>{SIZE_CELLS}} ", self.component_style("waste-tree--size")
        )
        room = self.width - SIZE_CELLS - 1 - cells(lines.text)
        data = node.data
        # a group's row: its name, then what it counts (cut at the end where the row ends)
        if isinstance(data, Section):
            return [size, lines, *self._named(data.name, data.what, "layer", "command")]
        if isinstance(data, Held):
            note = _command(self.image, data.layer)
            return [
                size,
                lines,
                *self._named(f"layer {data.layer} holds", note, "layer", "command"),
            ]
        if isinstance(data, tuple):
            _stored, dead_by = data
            count = labels.plural(_entries(node), "entry", "entries")
            note = f"{count} · {_command(self.image, dead_by)}"
            return [
                size,
                lines,
                *self._named(f"hidden by layer {dead_by}", note, "layer", "command"),
            ]
        # a path's row: its reason shortened first, then the path cut in the middle
        if isinstance(data, DeadDir):
            count = labels.plural(len(data.items), "entry", "entries")
            notes = [f"{data.how.label} · {count}", *REASONS[data.how.label]]
            name, note = labels.fit_row(visible(_dir_name(data.path)), notes, room)
            return [size, lines, *self._named(name, note, "path", "reason")]
        if isinstance(data, Copies):
            count = labels.plural(len(data.extra), "extra copy", "extra copies")
            notes = [count, f"+{len(data.extra)}"]
            name, note = labels.fit_row(visible("/" + data.first), notes, room)
            return [size, lines, *self._named(name, note, "path", "duplicate")]
        item: WasteItem = data
        parent = node.parent.data if node.parent is not None else None
        path = "/" + item.path
        if isinstance(parent, DeadDir):  # under its directory's row: the rest of its path
            inside = f"{parent.path}/" if parent.path else ""
            if item.path.startswith(inside):
                path = item.path[len(inside) :]
        kind = "duplicate" if item.reason == DUPLICATE else "reason"
        name, note = labels.fit_row(visible(path), item.reason_forms, room)
        return [size, lines, *self._named(name, note, "path", kind)]

    def _named(self, name: str, note: str, name_class: str, note_class: str) -> list[Segment]:
        """A name and the note after it, in their styles (`waste-tree--<class>`)."""
        style = self.component_style
        out = [Segment(name, style(f"waste-tree--{name_class}"))]
        if note:
            out.append(Segment("  " + note, style(f"waste-tree--{note_class}")))
        return out


def _entries(group: OutlineNode) -> int:
    """The entries a group lists, those of its directories' rows included."""
    return sum(len(n.children) if n.children else 1 for n in group.children or ())


def _dir_name(path: str) -> str:
    """A directory's path as a row shows it: `/var/cache/`, `/` for the root."""
    return f"/{path}/" if path else "/"


def _command(image: Image, layer: int) -> str:
    """The history command of a layer, as a Dockerfile line, visible (`labels.command`)."""
    return labels.command(image.layers[layer].created_by) or "(no history)"


class WasteScreen(OutlineScreen[GoTo | None, Waste]):
    """Where the dead bytes of the image on screen are, and which layer to fix (dismissed with
    the entry to go to, or None)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "back", "Back", show=False, id="waste.back"),
        Binding("e", "expand_all", "Expand all", id="waste.expand_all"),
        Binding("c", "collapse_all", "Collapse all", id="waste.collapse_all"),
        Binding("z", "toggle_empty", "Empty entries", id="waste.empty"),
        Binding("s", "slim", "Slim", id="waste.slim"),
    ]
    TREE = WasteTree
    PANES: ClassVar[dict[str, str]] = {
        "waste-layers-pane": "Reclaimable by layer",
        "waste-tree-pane": "Wasted bytes, largest first",
    }
    WORK = "Finding dead bytes"
    GROUP = "waste"
    FAILED = "The dead bytes could not be found"
    OPEN_ROWS = OPEN_ROWS

    def __init__(self, image: Image) -> None:
        super().__init__()
        self.image = image
        self.found: Waste | None = None
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

    def start(self) -> None:
        self.sub_title = f"{visible(self.image.name)}  ·  waste"
        super().start()

    def work_out(self) -> tuple[Waste, OutlineNode]:
        found = waste(self.image, include_empty=self.include_empty)
        return found, waste_tree(self.image, found)

    def show_found(self, found: Waste, root: OutlineNode) -> None:
        self.found = found
        self._summary(found)
        self._per_layer(found)
        nothing = "Nothing is wasted: no layer hides an entry and no content is at two paths."
        self.show_tree(root, None if found.items else nothing)

    def action_slim(self) -> None:
        """Write the image slimmed from a layer (the dialog shows what each choice saves)."""
        from layerscope.ui.dialogs.slim import SlimDialog

        self.app.push_screen(SlimDialog(self.image))

    def _summary(self, found: Waste) -> None:
        """The two totals, the model's figures (the tree's groups add up to them)."""
        image = self.image
        text = Text()
        text.append("reclaimable bytes ")
        text.append(labels.size(image.reclaimable_bytes), "bold")
        if image.size:
            text.append(f" ({labels.percent(image.reclaimable_fraction)} of the size)")
        text.append(f" in {labels.plural(len(found.hidden), 'hidden entry', 'hidden entries')}")
        text.append("  ·  duplicate bytes ")
        text.append(labels.size(image.duplicate_bytes), "bold")
        extra = sum(len(c.extra) for c in found.copies)
        text.append(f" in {labels.plural(extra, 'extra copy', 'extra copies')}")
        worst = max(
            range(len(found.per_layer)), key=lambda n: found.per_layer[n].caused, default=None
        )
        if worst is not None and found.per_layer[worst].caused:
            text.append("  ·  ")
            text.append(f"layer {worst}", "bold")
            text.append(f" hides the most ({labels.size(found.per_layer[worst].caused)})")
        self.query_one("#waste-summary", Static).update(text)

    def _per_layer(self, found: Waste) -> None:
        table = self.query_one("#waste-layers", DataTable)
        table.clear(columns=True)
        table.add_column("#", key="layer")
        table.add_column(Text("holds", justify="right"), key="stored")
        table.add_column(Text("hides", justify="right"), key="caused")
        table.add_column("command", key="command")

        def cell(n: int) -> Text:
            return Text(labels.size(n) if n else "·", justify="right")

        for n, lw in enumerate(found.per_layer):
            table.add_row(
                str(n),
                cell(lw.stored),
                cell(lw.caused),
                untrusted.text(_command(self.image, n)),
                key=str(n),
            )
        table.add_row(
            Text("all", style="bold"),
            cell(sum(lw.stored for lw in found.per_layer)),
            cell(sum(lw.caused for lw in found.per_layer)),
            Text("= the reclaimable bytes", style="italic"),
            key=ALL,
        )

    @on(DataTable.RowSelected, "#waste-layers")
    def _layer_chosen(self, event: DataTable.RowSelected) -> None:
        """Enter or a click on a layer: its reclaimable bytes in the tree (those it holds, else
        those it hides); on the total row, the reclaimable group."""
        if self.root is None or not self.root.children or event.row_key.value is None:
            return
        reclaimable = self.root.children[0]
        target = None
        if event.row_key.value == ALL:
            target = reclaimable
        else:
            layer = int(event.row_key.value)
            for top in reclaimable.children or ():
                if top.data == Held(layer):
                    target = top
                    break
                for group in top.children or ():
                    if group.data[1] == layer and target is None:
                        target = group
            if target is None:
                self.notify(f"Layer {layer} neither holds nor hides a reclaimable byte.")
                return
        self.outline_view.go_to(target)
        self.outline_view.focus()

    @on(OutlineView.Highlighted, "#waste-tree")
    def _entry_line(self, event: OutlineView.Highlighted) -> None:
        """The row under the cursor in full: its exact bytes, its layers and how."""
        text = Text(no_wrap=True, overflow="ellipsis")
        node = event.node
        if node is None:
            self.query_one("#waste-entry", Static).update(text)
            return
        data = node.data
        if isinstance(data, Section):
            text.append(f"{data.name}: ", "bold")
            text.append(f"{labels.exact(node.size)} in {data.what}")
        elif isinstance(data, Held):
            text.append(f"layer {data.layer} holds ", "bold")
            text.append(f"{labels.exact(node.size)} that later layers hide")
        elif isinstance(data, tuple):
            text.append(f"layer {data[1]} hides ", "bold")
            text.append(f"{labels.exact(node.size)} that layer {data[0]} stored")
        elif isinstance(data, DeadDir):
            text.append(visible(_dir_name(data.path)), "bold")
            count = labels.plural(len(data.items), "entry", "entries")
            text.append(f" {labels.exact(data.size)} in {count} below it, ")
            first = data.items[0]
            text.append(f"stored by layer {first.layer}, hidden by layer {first.made_dead_by} ")
            text.append(f"({data.how.label}: {data.how.reason})")
        elif isinstance(data, Copies):
            text.append(visible("/" + data.first), "bold")
            text.append(f" {labels.exact(data.size)} a copy, also at ")
            text.append(labels.plural(len(data.extra), "other path", "other paths"))
            text.append(f": {labels.exact(data.extra_bytes)} of duplicate bytes")
        elif isinstance(data, WasteItem):
            item = data
            text.append(visible("/" + item.path), "bold")
            text.append(f" {labels.exact(item.size)}, stored by layer {item.layer}")
            if item.made_dead_by is not None:
                text.append(f", hidden by layer {item.made_dead_by} ({item.reason_text})")
            else:
                text.append(f", an extra copy of /{visible(item.duplicate_of or '')}")
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
        self.outline_view.show_message(f"{self.WORK}…")
        self.compute()
