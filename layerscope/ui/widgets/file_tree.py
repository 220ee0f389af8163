"""The file tree: a line-API widget drawing an `Outline` row by row, so only the rows on screen
cost anything, whatever the number of entries (the status line under it, which tells the entry
at the cursor in full, is ui/widgets/status.py).

A directory is listed when it is opened (views/treeview.py): a big one (more than `BIG_DIR`
children) in a thread, the rows spliced in once listed, so the event loop never waits on it.
Under a filter, a directory's size is that of what the filter shows below it."""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.worker import get_current_worker

from layerscope.model.kinds import Kind
from layerscope.read.records import DIR
from layerscope.ui.widgets.cursor_view import CursorView, RowMessage, cursor_bindings
from layerscope.views import labels
from layerscope.views.listing import Filter
from layerscope.views.outline import Outline, Row
from layerscope.views.treeview import Node, TreeView

BIG_DIR = 2_000  # children from which a directory is listed in a thread when opened


class FileTree(CursorView):
    """The files of one view: expand, collapse, move; everything else is the screen's job."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *cursor_bindings("tree"),
        Binding("enter,space", "toggle_node", "Open/close", id="tree.toggle"),
        Binding("right,l", "expand", "Open dir", show=False, id="tree.expand"),
        Binding("left,h", "collapse", "Close dir / go up", show=False, id="tree.collapse"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "file-tree--cursor",
        "file-tree--cursor-blurred",
        "file-tree--guide",
        "file-tree--size",
        "file-tree--attributes",
        "file-tree--dir",
        "file-tree--link",
        "file-tree--note",
        "file-tree--match",
        "file-tree--message",
        "file-tree--legend-off",
        *(f"file-tree--{kind.label}" for kind in Kind),
    }
    COMPONENT_PREFIX = "file-tree"

    show_attributes: reactive[bool] = reactive(False)

    class Highlighted(RowMessage):
        """The cursor moved to another entry (None: nothing under it)."""

        node: Node | None

    class Opened(RowMessage):
        """Enter on an entry that is not a directory (the screen previews it)."""

        node: Node

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.outline: Outline | None = None
        self.filter = Filter()
        # Which directories are open, by path, so the state outlives a view: every directory but
        # `paths` when `everything`, else only `paths`; None: decided by the view's size.
        self.everything: bool | None = None
        self.paths: set[str] = set()
        self.cursor_path = ""
        self.searching = False  # a search opens everything: opening or closing is not remembered
        self.generation = 0  # counts changes to what is open, so stale rebuilds can be told
        self.owner_width = 3  # room for "uid:gid" in the attributes column

    # -- what it shows --------------------------------------------------------------------------
    @property
    def view(self) -> TreeView | None:
        return self.outline.view if self.outline is not None else None

    @property
    def rows(self) -> int:
        return len(self.outline) if self.outline is not None else 0

    def show_outline(self, outline: Outline, cursor: int, everything: bool) -> None:
        """Show new rows (built in a worker) with the cursor at row `cursor`."""
        self.outline = outline
        self.filter = outline.listing.filter
        self.message_text = ""
        self.owner_width = outline.view.owner_width()
        if self.everything is None and not self.searching:
            self.everything = everything  # the first view decided: keep to it from now on
        self.show_cursor(cursor)

    def show_message(self, text: str) -> None:
        """Show a line of text instead of rows (a layer still reading, a failure)."""
        self.outline = None
        super().show_message(text)
        self.post_message(self.Highlighted(self, None))

    @property
    def node(self) -> Node | None:
        """The entry under the cursor."""
        if self.outline is None or not len(self.outline):
            return None
        return self.outline.view.node(self.outline.node_at(self.cursor))

    def expand_all(self) -> None:
        self.everything = True
        self.paths.clear()
        self.generation += 1

    def collapse_all(self) -> None:
        """Close every directory (cheap: the top level only)."""
        self.everything = False
        self.paths.clear()
        self.generation += 1
        if self.outline is not None:
            self.outline = Outline(self.outline.listing, self.outline.sort, ())
            top = self.cursor_path.split("/", 1)[0]
            node = self.outline.view.find(top) if top else None
            index = self.outline.index_of(node) if node is not None else None
            self.show_cursor(index or 0)

    def go_to(self, path: str) -> bool:
        """Open the directories above `path` and put the cursor on it."""
        if self.outline is None:
            return False
        node = self.outline.view.find(path)
        if node is None:
            return False
        view = self.outline.view
        for anc in view.ancestors(node):
            self._remember(view.paths[anc], True)
        index = self.outline.reveal(node)
        if index is None:
            return False
        self.show_cursor(index)
        return True

    # -- state -----------------------------------------------------------------------------------
    def _remember(self, path: str, is_open: bool) -> None:
        self.generation += 1
        if self.searching:
            return
        if self.everything:
            (self.paths.discard if is_open else self.paths.add)(path)
        else:
            (self.paths.add if is_open else self.paths.discard)(path)

    def _post_highlight(self) -> None:
        node = self.node
        self.cursor_path = node.path if node is not None else ""
        self.post_message(self.Highlighted(self, node))

    # -- actions ---------------------------------------------------------------------------------
    def action_toggle_node(self) -> None:
        """Open or close the directory at the cursor; on a file, post `Opened`."""
        if self.outline is None or not len(self.outline):
            return
        if self.outline.view.types[self.outline.node_at(self.cursor)] != DIR:
            node = self.node
            if node is not None:
                self.post_message(self.Opened(self, node))
            return
        if self.outline.is_expanded(self.cursor):
            self.action_collapse(up=False)
        else:
            self.action_expand()

    def action_expand(self) -> None:
        """Open the directory at the cursor; if it is open already, step into it."""
        outline = self.outline
        if outline is None or not len(outline):
            return
        node = outline.node_at(self.cursor)
        if outline.view.types[node] != DIR:
            return
        if not outline.is_expanded(self.cursor):
            if outline.view.child_estimate(node) > BIG_DIR:
                self._list_big(outline, self.cursor, node, self.generation)
            elif outline.expand(self.cursor):
                self._opened(node)
            else:
                outline.collapse(self.cursor)  # nothing inside to show
            return
        below = self.cursor + 1
        if below < len(outline) and outline.rows[below].depth > outline.rows[self.cursor].depth:
            self._move(below)

    def _opened(self, node: int) -> None:
        assert self.outline is not None
        self._remember(self.outline.view.paths[node], True)
        self._update_size()
        self.refresh()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="tree-expand",
        description="Listing a directory",
    )
    def _list_big(self, outline: Outline, index: int, node: int, generation: int) -> None:
        """List a big directory's rows (in a thread), then splice them in on the UI thread,
        unless the tree changed meanwhile."""
        worker = get_current_worker()
        rows = outline.rows_below(index)
        if not worker.is_cancelled:
            self.app.call_from_thread(self._splice, outline, index, node, generation, rows)

    def _splice(
        self, outline: Outline, index: int, node: int, generation: int, rows: list[Row]
    ) -> None:
        if outline is not self.outline or generation != self.generation:
            return  # the tree changed meanwhile
        if index >= len(outline) or outline.node_at(index) != node:
            return
        if outline.is_expanded(index) or not rows:
            return
        outline.insert_below(index, rows)
        self._opened(node)

    def action_collapse(self, up: bool = True) -> None:
        outline = self.outline
        if outline is None or not len(outline):
            return
        node = outline.node_at(self.cursor)
        if outline.is_expanded(self.cursor):
            outline.collapse(self.cursor)
            self._remember(outline.view.paths[node], False)
            self._update_size()
            self.refresh()
        elif up:
            parent = outline.parent_index(self.cursor)
            if parent is not None:
                self._move(parent)

    def row_clicked(self, index: int, again: bool, event: events.Click) -> None:
        assert self.outline is not None
        if self.outline.view.types[self.outline.node_at(index)] == DIR or again:
            self.action_toggle_node()  # a second click on a file opens it

    def watch_show_attributes(self) -> None:
        self.refresh()

    # -- drawing ---------------------------------------------------------------------------------
    def row_segments(self, index: int) -> list[Segment]:
        outline = self.outline
        assert outline is not None
        view = outline.view
        row = outline.rows[index]
        node = view.node(row.node)
        style = self.component_style
        kind_style = style(f"file-tree--{node.kind}")
        out = [Segment(f" {Kind.from_label(node.kind).mark} ", kind_style)]
        if self.show_attributes:
            owner = "" if node.uid is None else f"{node.uid}:{node.gid}"
            attrs = f"{node.mode_text} {owner:<{self.owner_width}} "
            out.append(Segment(attrs, style("file-tree--attributes")))
        size = outline.listing.size(row.node)
        out.append(Segment(f"{labels.size(size):>8}  ", style("file-tree--size")))
        if node.is_dir and node.children:
            glyph = "▾ " if row.node in outline.expanded else "▸ "
        else:
            glyph = "─ "
        connector = ("└─" if row.last else "├─") + glyph
        out.append(Segment(row.guide + connector, style("file-tree--guide")))
        name_style = kind_style + style("file-tree--dir") if node.is_dir else kind_style
        out.extend(self._name_segments(node.name, name_style))
        if node.link is not None:
            arrow = " → " if node.type == "symlink" else " ⇒ /"
            out.append(Segment(arrow + node.link, style("file-tree--link")))
        note = _note(node, view)
        if note:
            out.append(Segment("  " + note, style("file-tree--note") + kind_style))
        return out

    def _name_segments(self, name: str, name_style: Style) -> list[Segment]:
        spans = self.filter.spans(name)
        if not spans:
            return [Segment(name, name_style)]
        match = name_style + self.component_style("file-tree--match")
        out = []
        at = 0
        for start, end in spans:
            if start > at:
                out.append(Segment(name[at:start], name_style))
            out.append(Segment(name[start:end], match))
            at = end
        if at < len(name):
            out.append(Segment(name[at:], name_style))
        return out


def _note(node: Node, view: TreeView) -> str:
    """What a row says after its name: why it is removed or hidden, opaque directories."""
    if node.kind == "removed":
        return f"removed ({node.how})" if node.how else "removed"  # kinds.How's spelling
    if node.kind == "hidden" and node.hidden_by is not None:
        return f"hidden by layer {node.hidden_by} ({node.how})"
    if node.opaque:
        return "opaque: hides what lay below"
    if node.through_symlink:
        return "⚠ placed differently by other engines"
    return ""
