"""Compare two images: their final filesystems as one tree of differences — added, removed,
changed, with sizes — and a summary. Enter on an entry shows it in the file tree.

Images are numbered from 1, as everywhere a person reads them. The pickers show each image's
number and name, the name shortened to what tells it from the others (its tag, or its config
digest when two names are the same) when the picker is narrow.

Paths and image names come from the archive: shown visibly, as text, never as markup (the
pickers' prompts draw a `rich.text.Text`; see `screens.insight`); the tree's rows are made
visible where they are drawn."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Header, Label, Select, Static

from layerscope.insight.compare import Comparison, PathChange, compare
from layerscope.model.image import Image
from layerscope.model.kinds import Kind
from layerscope.text import cells, visible
from layerscope.ui.screens.insight import GoTo, OutlineScreen, shown_number
from layerscope.ui.widgets.keybar import KeyBar
from layerscope.ui.widgets.outline import OutlineView
from layerscope.views import labels
from layerscope.views.outline import OutlineNode, Row

OPEN_ROWS = 400  # levels of the tree open at first while the rows shown stay under this
# A change's mark, as the file tree marks an added, removed or modified entry.
MARKS: dict[str | None, str] = {
    "added": Kind.ADDED.mark,
    "removed": Kind.REMOVED.mark,
    "changed": Kind.MODIFIED.mark,
    None: " ",  # a directory that only holds changes
}


class Difference:
    """What a node of the tree stands for: a change at its path (None for a directory that
    only holds changes), and the bytes gained or lost below it."""

    __slots__ = ("added", "change", "path", "removed")

    def __init__(self, path: str, change: PathChange | None = None) -> None:
        self.path = path
        self.change = change
        self.added = 0  # bytes that B has and A has not, at or below this path
        self.removed = 0

    @property
    def delta(self) -> int:
        return self.added - self.removed


def difference_tree(comparison: Comparison) -> OutlineNode:
    """Every changed path under its directories; a directory's size is the bytes that change
    below it (gained plus lost), so the heaviest differences come first."""
    root = OutlineNode("", Difference(""), branch=True)
    dirs: dict[str, OutlineNode] = {"": root}

    def node_for(path: str) -> OutlineNode:
        """The node of a directory, made with its missing parents (iteratively: a path may
        have 2048 components)."""
        missing = []
        while path not in dirs:
            missing.append(path)
            i = path.rfind("/")
            path = path[:i] if i >= 0 else ""
        node = dirs[path]
        for p in reversed(missing):
            node = node.add(OutlineNode(p[p.rfind("/") + 1 :], Difference(p), branch=True))
            dirs[p] = node
        return node

    changes = sorted(
        comparison.added + comparison.removed + comparison.changed, key=lambda c: c.path
    )
    for change in changes:
        if change.type == "dir":
            node = node_for(change.path)
            node.data.change = change
        else:
            i = change.path.rfind("/")
            parent = node_for(change.path[:i] if i >= 0 else "")
            node = parent.add(OutlineNode(change.path[i + 1 :], Difference(change.path, change)))
        gained, lost = max(change.size_b - change.size_a, 0), max(change.size_a - change.size_b, 0)
        up: OutlineNode | None = node
        while up is not None:
            up.data.added += gained
            up.data.removed += lost
            up.size = up.data.added + up.data.removed
            up = up.parent
    for node in [root, *root.walk()]:
        if node.children:
            node.children.sort(key=lambda n: (-n.size, n.name))
    for path, node in dirs.items():  # a directory with nothing changed under it is a leaf
        if path and not node.children:
            node.children = None
    return root


class ImageName:
    """`2: name` in the cells it is drawn in (a picker's prompt): the whole name if it fits,
    else from the part that tells it from the other images' names (`labels.short_name`)."""

    def __init__(self, image: Image, name: str, start: int) -> None:
        self.prefix = f"{shown_number(image)}: "
        self.name = name  # visible already
        self.start = start

    @property
    def plain(self) -> str:
        """The whole label."""
        return self.prefix + self.name

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        room = options.max_width - cells(self.prefix)
        yield Text(self.prefix + labels.short_name(self.name, room, self.start), no_wrap=True)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(cells(self.prefix) + 1, cells(self.plain))


def image_names(images: list[Image]) -> dict[int, ImageName]:
    """Each image's picker label, by `Image.number`: its name made visible, with its config
    digest when another image has the same name."""
    names = [visible(img.name) for img in images]
    seen = [names.count(n) > 1 for n in names]
    names = [
        f"{n} @{labels.short_digest(img.config_digest)[7:]}" if twice else n
        for n, img, twice in zip(names, images, seen, strict=True)
    ]
    starts = labels.distinct_starts(names)
    return {
        img.number: ImageName(img, name, start)
        for img, name, start in zip(images, names, starts, strict=True)
    }


class CompareTree(OutlineView):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *OutlineView.COMPONENT_CLASSES,
        "compare-tree--size",
        "compare-tree--added",
        "compare-tree--removed",
        "compare-tree--changed",
        "compare-tree--dir",
        "compare-tree--note",
    }

    def segments(self, row: Row) -> list[Segment]:
        style = self.component_style
        diff: Difference = row.node.data
        change = diff.change
        kind = change.kind if change else None
        kind_style = style(f"compare-tree--{kind}") if kind else style("compare-tree--dir")
        lines = self.connector(row)
        out = [
            Segment(f" {MARKS[kind]} ", kind_style),
            Segment(f"{signed(diff.delta):>8}  ", style("compare-tree--size")),
            lines,
        ]
        room = self.width - 13 - cells(lines.text)
        name_style = kind_style + style("compare-tree--dir") if row.node.is_branch else kind_style
        note = _note(change) if change else ""
        if row.node.is_branch and (diff.added or diff.removed):
            parts = []
            if diff.added:
                parts.append(f"+{labels.size(diff.added)}")
            if diff.removed:
                parts.append(f"-{labels.size(diff.removed)}")
            note = (note + "  " if note else "") + " ".join(parts)
        name, note = labels.fit_row(visible(row.node.name), [note] if note else [], room)
        out.append(Segment(name, name_style))
        if note:
            out.append(Segment("  " + note, style("compare-tree--note")))
        return out


def signed(n: int) -> str:
    """`+1.2 kB`, `-40 B`, `0 B`."""
    if n == 0:
        return "0 B"
    return ("+" if n > 0 else "-") + labels.size(abs(n))


def _note(change: PathChange) -> str:
    if change.kind == "added":
        return f"added {change.type}" + (
            f" {labels.size(change.size_b)}" if change.type == "file" else ""
        )
    if change.kind == "removed":
        return f"removed {change.type}" + (
            f" {labels.size(change.size_a)}" if change.type == "file" else ""
        )
    what = ", ".join(change.what)
    if change.type == "file" and change.size_a != change.size_b:
        return f"{what}: {labels.size(change.size_a)} → {labels.size(change.size_b)}"
    return f"{what} changed"


class CompareScreen(OutlineScreen[GoTo | None, Comparison]):
    """Two images' final filesystems, one tree of what differs (dismissed with the entry to go
    to, or None). Until every layer is read (`loaded` false) it waits: whoever opened it calls
    `layers_read` once they are."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("C", "back", "Back", show=False, id="compare.back"),
        Binding("s", "swap", "Swap A/B", id="compare.swap"),
        Binding("e", "expand_all", "Expand all", id="compare.expand_all"),
        Binding("c", "collapse_all", "Collapse all", id="compare.collapse_all"),
    ]
    TREE = CompareTree
    PANES: ClassVar[dict[str, str]] = {"compare-pane": "Differences, largest first"}
    WORK = "Comparing the images"
    GROUP = "compare"
    FAILED = "The images could not be compared"
    OPEN_ROWS = OPEN_ROWS

    def __init__(self, images: list[Image], a: Image, b: Image, *, loaded: bool) -> None:
        super().__init__()
        self.images = images
        self.a, self.b = a, b
        self.loaded = loaded
        self.comparison: Comparison | None = None
        self.names = image_names(images)

    def compose(self) -> ComposeResult:
        yield Header(icon="◧")
        options = [(self.names[img.number], img.number) for img in self.images]
        with Horizontal(id="compare-pick"):
            yield Label("A", classes="pick-label")
            yield Select(options, value=self.a.number, allow_blank=False, id="compare-a")
            yield Label("→ B", classes="pick-label")
            yield Select(options, value=self.b.number, allow_blank=False, id="compare-b")
        yield Static(id="compare-summary", classes="summary")
        with Vertical(id="compare-pane", classes="pane"):
            yield CompareTree(id="compare-tree")
            yield Static(id="compare-entry", classes="entry-line")
        yield KeyBar()

    def start(self) -> None:
        if self.loaded:
            self.refresh_comparison()
        else:
            self.sub_title = self._pair()
            self.outline_view.show_message("Reading the layers of both images…")

    def layers_read(self) -> None:
        """Every layer is read now: compare (at once if on screen, else once mounted; not at
        all once dismissed)."""
        self.loaded = True
        if self.is_mounted and self.is_attached:
            self.refresh_comparison()

    def _pair(self) -> str:
        """`compare 1: A → 2: B`, the names visible, shortened as the pickers shorten them
        when the screen is narrow."""
        room = max((self.app.size.width - 44) // 2, 12)
        a, b = self.names[self.a.number], self.names[self.b.number]
        return f"compare {a.prefix}{labels.short_name(a.name, room, a.start)} → " + (
            f"{b.prefix}{labels.short_name(b.name, room, b.start)}"
        )

    def refresh_comparison(self) -> None:
        """Compare the images picked now (in a worker), or say why not."""
        self.sub_title = self._pair()
        self.comparison = self.root = None
        if self.a is self.b:
            self.query_one("#compare-summary", Static).update("")
            self.outline_view.show_message("Pick two different images.")
            return
        self.query_one("#compare-summary", Static).update("Comparing…")
        self.outline_view.show_message(
            f"Comparing image {shown_number(self.a)} with image {shown_number(self.b)}…"
        )
        self.compute(self.a, self.b)

    def work_out(self, a: Image, b: Image) -> tuple[Comparison, OutlineNode]:
        comparison = compare(a, b)
        return comparison, difference_tree(comparison)

    def show_found(self, found: Comparison, root: OutlineNode) -> None:
        if (found.a, found.b) != (self.a.name, self.b.name):
            return  # an older pick
        self.comparison = found
        self._summary(found)
        same = "The two final filesystems are the same."
        self.show_tree(root, None if root.children else same)

    def _summary(self, c: Comparison) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"+{len(c.added):,} added", self.theme_style("success"))
        text.append(f" ({labels.size(c.added_bytes)})  ")
        text.append(f"-{len(c.removed):,} removed", self.theme_style("error"))
        text.append(f" ({labels.size(c.removed_bytes)})  ")
        text.append(f"~{len(c.changed):,} changed", self.theme_style("warning"))
        text.append(f" ({signed(c.changed_bytes_delta)})  ·  ")
        size_a, size_b = self.a.final_size, self.b.final_size
        text.append(f"final size {labels.size(size_a)} → {labels.size(size_b)} ")
        text.append(f"({signed(size_b - size_a)})", "bold")
        self.query_one("#compare-summary", Static).update(text)

    @on(Select.Changed)
    def _picked(self, event: Select.Changed) -> None:
        by_number = {img.number: img for img in self.images}
        a = by_number.get(self.query_one("#compare-a", Select).value)  # type: ignore[arg-type]
        b = by_number.get(self.query_one("#compare-b", Select).value)  # type: ignore[arg-type]
        if a is None or b is None or (a, b) == (self.a, self.b):
            return
        self.a, self.b = a, b
        self.refresh_comparison()

    def action_swap(self) -> None:
        self.a, self.b = self.b, self.a
        with self.prevent(Select.Changed):
            self.query_one("#compare-a", Select).value = self.a.number
            self.query_one("#compare-b", Select).value = self.b.number
        self.refresh_comparison()

    @on(OutlineView.Highlighted, "#compare-tree")
    def _entry_line(self, event: OutlineView.Highlighted) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        node = event.node
        if node is not None:
            diff: Difference = node.data
            text.append(visible("/" + diff.path) + "  ", "bold")
            if diff.change is not None:
                text.append(_note(diff.change) + "  ")
            if not node.is_branch:
                where = self.a if diff.change and diff.change.kind == "removed" else self.b
                text.append(f"(enter: show it in image {shown_number(where)})")
        self.query_one("#compare-entry", Static).update(text)

    @on(OutlineView.Chosen, "#compare-tree")
    def _go_to_entry(self, event: OutlineView.Chosen) -> None:
        diff: Difference = event.node.data
        if diff.change is None:
            return
        image = self.a if diff.change.kind == "removed" else self.b
        self.dismiss(GoTo(diff.path, len(image.layers) - 1, image, mode="image"))
