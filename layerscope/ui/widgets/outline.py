"""A line-API tree over an `Outline` (ui/outline.py): only the rows on screen are drawn, so a
tree of any size moves as fast as a small one. Subclasses say how a row reads (`segments`)."""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..outline import Outline, OutlineNode, Row
from .styling import ComponentStyles


class OutlineView(ComponentStyles, ScrollView, can_focus=True):
    """Move, open and close branches; enter (or a click on the row under the cursor) on a leaf
    posts `Chosen`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="outline.up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="outline.down"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="outline.page_up"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="outline.page_down"),
        Binding("home,g", "first", "First", show=False, id="outline.first"),
        Binding("end,G", "last", "Last", show=False, id="outline.last"),
        Binding("enter", "choose", "Open/go to", id="outline.choose"),
        Binding("space", "toggle", "Open/close", show=False, id="outline.toggle"),
        Binding("right,l", "expand", "Open", show=False, id="outline.expand"),
        Binding("left,h", "collapse", "Close / go up", show=False, id="outline.collapse"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "outline--cursor",
        "outline--cursor-blurred",
        "outline--guide",
        "outline--message",
    }

    class Highlighted(Message):
        """The cursor moved to another node (None: nothing under it)."""

        def __init__(self, view: OutlineView, node: OutlineNode | None) -> None:
            super().__init__()
            self.view = view
            self.node = node

        @property
        def control(self) -> OutlineView:
            return self.view

    class Chosen(Message):
        """Enter on a leaf: the screen decides what it opens."""

        def __init__(self, view: OutlineView, node: OutlineNode) -> None:
            super().__init__()
            self.view = view
            self.node = node

        @property
        def control(self) -> OutlineView:
            return self.view

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.outline: Outline | None = None
        self.cursor = 0
        self.message_text = ""

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
        self.outline = Outline(root, expanded)
        self.message_text = ""
        self.cursor = min(max(cursor, 0), max(len(self.outline) - 1, 0))
        self._update_size()
        self._scroll_to_cursor(center=True)
        self.refresh()
        self._post_highlight()

    def show_message(self, text: str) -> None:
        self.outline = None
        self.message_text = text
        self.cursor = 0
        self._update_size()
        self.refresh()
        self.post_message(self.Highlighted(self, None))

    def go_to(self, node: OutlineNode) -> bool:
        """Open the branches above a node and put the cursor on it."""
        if self.outline is None:
            return False
        index = self.outline.reveal(node)
        if index is None:
            return False
        self.cursor = index
        self._update_size()
        self._scroll_to_cursor(center=True)
        self.refresh()
        self._post_highlight()
        return True

    def lines(self) -> list[str]:
        """Every row as plain text (for tests)."""
        return [
            "".join(seg.text for seg in self.segments(row))
            for row in (self.outline.rows if self.outline else [])
        ]

    # -- state -----------------------------------------------------------------------------------
    def _update_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, max(self.rows, 1))

    def on_resize(self, event: events.Resize) -> None:
        self._update_size()

    def _post_highlight(self) -> None:
        self.post_message(self.Highlighted(self, self.node))

    def _move(self, index: int) -> None:
        if self.outline is None or not len(self.outline):
            return
        index = min(max(index, 0), len(self.outline) - 1)
        if index != self.cursor:
            self.cursor = index
            self._scroll_to_cursor()
            self.refresh()
            self._post_highlight()

    def _scroll_to_cursor(self, center: bool = False) -> None:
        height = self.scrollable_content_region.height
        if height <= 0:
            return
        top = round(self.scroll_offset.y)
        if center and not top <= self.cursor < top + height:
            self.scroll_to(y=max(self.cursor - height // 2, 0), animate=False, immediate=True)
        elif self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    # -- actions ---------------------------------------------------------------------------------
    def action_cursor_up(self) -> None:
        self._move(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._move(self.cursor + 1)

    def action_page_up(self) -> None:
        self._move(self.cursor - max(self.scrollable_content_region.height - 1, 1))

    def action_page_down(self) -> None:
        self._move(self.cursor + max(self.scrollable_content_region.height - 1, 1))

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(self.rows - 1)

    def action_choose(self) -> None:
        node = self.node
        if node is None:
            return
        if node.is_branch:
            self.action_toggle()
        else:
            self.post_message(self.Chosen(self, node))

    def action_toggle(self) -> None:
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

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self.outline is None:
            return
        index = round(self.scroll_offset.y) + offset.y
        if index >= len(self.outline):
            return
        again = index == self.cursor
        self._move(index)
        node = self.outline.rows[index].node
        if node.is_branch:
            self.action_toggle()
        elif again or event.chain > 1:
            self.post_message(self.Chosen(self, node))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- drawing ---------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if self.outline is None:
            if y == 0 and self.message_text:
                line = [Segment(" " + self.message_text, self.component_style("outline--message"))]
                return Strip(Segment.apply_style(line, base)).crop_extend(0, width, base)
            return Strip.blank(width, base)
        index = round(self.scroll_offset.y) + y
        if index >= len(self.outline):
            return Strip.blank(width, base)
        cursor = None
        if index == self.cursor:
            cursor = self.component_style(
                "outline--cursor" if self.has_focus else "outline--cursor-blurred"
            )
        segments = self.segments(self.outline.rows[index])
        line = list(Segment.apply_style(segments, base, cursor))
        return Strip(line).crop_extend(0, width, base + cursor if cursor else base)

    def connector(self, row: Row) -> Segment:
        """The tree lines before a node's name."""
        if row.node.children:
            glyph = "▾ " if self.outline and row.node in self.outline.expanded else "▸ "
        else:
            glyph = "─ "
        return Segment(
            row.guide + ("└─" if row.last else "├─") + glyph, self.component_style("outline--guide")
        )

    def segments(self, row: Row) -> list[Segment]:
        """How a row reads; subclasses say more."""
        return [self.connector(row), Segment(row.node.name, Style())]
