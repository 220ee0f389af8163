"""A line-API tree over a `NodeOutline` (views/outline.py): only the rows on screen are drawn, so a
tree of any size moves as fast as a small one. Subclasses say how a row reads (`segments`); names
from an image may go in as they are: CursorView shows every segment through `visible()`."""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType

from layerscope.ui.widgets.cursor_view import (
    CursorView,
    RowMessage,
    cursor_bindings,
    visible_segments,
)
from layerscope.views.outline import NodeOutline, OutlineNode, Row

COMPACT_BELOW = 100  # a view narrower than this draws its tree lines in half the cells


class OutlineView(CursorView):
    """Move, open and close branches; enter (or a click on the row under the cursor) on a leaf
    posts `Chosen`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *cursor_bindings("outline"),
        Binding("enter", "choose", "Open/go to", id="outline.choose"),
        Binding("space", "toggle_node", "Open/close", show=False, id="outline.toggle"),
        Binding("right,l", "expand", "Open", show=False, id="outline.expand"),
        Binding("left,h", "collapse", "Close / go up", show=False, id="outline.collapse"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "outline--cursor",
        "outline--cursor-blurred",
        "outline--guide",
        "outline--message",
    }
    COMPONENT_PREFIX = "outline"

    class Highlighted(RowMessage):
        """The cursor moved to another node (None: nothing under it)."""

        node: OutlineNode | None

    class Chosen(RowMessage):
        """Enter on a leaf: the screen decides what it opens."""

        node: OutlineNode

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.outline: NodeOutline | None = None

    # -- content ---------------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return len(self.outline) if self.outline is not None else 0

    @property
    def node(self) -> OutlineNode | None:
        if self.outline is None or not len(self.outline):
            return None
        return self.outline.rows[self.cursor].node

    def show(self, root: OutlineNode, expanded: set[OutlineNode], cursor: int = 0) -> None:
        self.outline = NodeOutline(root, expanded)
        self.message_text = ""
        self.show_cursor(cursor)

    def show_message(self, text: str) -> None:
        self.outline = None
        super().show_message(text)
        self.post_message(self.Highlighted(self, None))

    def go_to(self, node: OutlineNode) -> bool:
        """Open the branches above a node and put the cursor on it."""
        if self.outline is None:
            return False
        index = self.outline.reveal(node)
        if index is None:
            return False
        self.show_cursor(index)
        return True

    def expand_all(self, root: OutlineNode) -> None:
        """Show `root` with every branch open, the cursor on the node it was on."""
        node = self.node
        self.show(root, {n for n in root.walk() if n.is_branch})
        if node is not None:
            self.go_to(node)

    def collapse_all(self, root: OutlineNode) -> None:
        """Show `root` with every branch closed, the cursor on the top node it was under."""
        node = self.node
        self.show(root, set())
        while node is not None and node.parent is not root:
            node = node.parent
        if node is not None:
            self.go_to(node)

    def lines(self) -> list[str]:
        """Every row as plain text, as it is drawn (for tests)."""
        return [
            "".join(seg.text for seg in visible_segments(self.segments(row)))
            for row in (self.outline.rows if self.outline else [])
        ]

    # -- state -----------------------------------------------------------------------------------
    def _post_highlight(self) -> None:
        self.post_message(self.Highlighted(self, self.node))

    # -- actions ---------------------------------------------------------------------------------
    def action_choose(self) -> None:
        node = self.node
        if node is None:
            return
        if node.is_branch:
            self.action_toggle_node()
        else:
            self.post_message(self.Chosen(self, node))

    def action_toggle_node(self) -> None:
        """Open or close the branch at the cursor."""
        if self.outline is None or not len(self.outline):
            return
        if self.outline.is_expanded(self.cursor):
            self.action_collapse(up=False)
        else:
            self.action_expand()

    def action_expand(self) -> None:
        outline = self.outline
        if outline is None or not len(outline):
            return
        row = outline.rows[self.cursor]
        if not row.node.is_branch:
            return
        if not outline.is_expanded(self.cursor):
            outline.expand(self.cursor)
            self._update_size()
            self.refresh()
            return
        below = self.cursor + 1
        if below < len(outline) and outline.rows[below].depth > row.depth:
            self._move(below)

    def action_collapse(self, up: bool = True) -> None:
        outline = self.outline
        if outline is None or not len(outline):
            return
        if outline.is_expanded(self.cursor):
            outline.collapse(self.cursor)
            self._update_size()
            self.refresh()
        elif up:
            parent = outline.parent_index(self.cursor)
            if parent is not None:
                self._move(parent)

    def row_clicked(self, index: int, again: bool, event: events.Click) -> None:
        assert self.outline is not None
        node = self.outline.rows[index].node
        if node.is_branch:
            self.action_toggle_node()
        elif again or event.chain > 1:
            self.post_message(self.Chosen(self, node))

    # -- drawing ---------------------------------------------------------------------------------
    def row_segments(self, index: int) -> list[Segment]:
        assert self.outline is not None
        return self.segments(self.outline.rows[index])

    @property
    def width(self) -> int:
        """The cells a row has."""
        return self.scrollable_content_region.width

    @property
    def compact(self) -> bool:
        """Whether the tree lines take two cells a level rather than four (a narrow view)."""
        return self.width < COMPACT_BELOW

    def connector(self, row: Row) -> Segment:
        """The tree lines before a node's name."""
        if row.node.children:
            glyph = "▾ " if self.outline and row.node in self.outline.expanded else "▸ "
        else:
            glyph = "─ "
        if self.compact:  # each level's four cells ("│   ") in two ("│ ")
            guide = "".join(row.guide[i : i + 2] for i in range(0, len(row.guide), 4))
            lines = guide + ("└" if row.last else "├") + glyph
        else:
            lines = row.guide + ("└─" if row.last else "├─") + glyph
        return Segment(lines, self.component_style("outline--guide"))

    def segments(self, row: Row) -> list[Segment]:
        """How a row reads; subclasses say more."""
        return [self.connector(row), Segment(row.node.name, Style())]
