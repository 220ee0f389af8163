"""A line-API list with a cursor: only the rows on screen are drawn, so it moves as fast over
500,000 rows as over ten. The file tree and the outline views are made of it.

Rows show names, link targets and commands from an image: every segment a row is drawn from (and
the message shown instead of rows) goes through `layerscope.text.visible` here, the one place all
of them pass, so no control, escape or bidi character of an archive reaches the terminal.
Segments are never parsed as markup."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from layerscope.text import visible
from layerscope.ui.widgets.styling import ComponentStyles


def cursor_bindings(group: str) -> list[Binding]:
    """The keys that move the cursor, and the rows sideways, with ids of their own per widget
    (`tree.up`, …). `<` and `>` scroll sideways too: many terminals keep ctrl+PgUp/PgDn."""
    return [
        Binding("up,k", "cursor_up", "Up", show=False, id=f"{group}.up"),
        Binding("down,j", "cursor_down", "Down", show=False, id=f"{group}.down"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id=f"{group}.page_up"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id=f"{group}.page_down"),
        Binding("home,g", "first", "First", show=False, id=f"{group}.first"),
        Binding("end,G", "last", "Last", show=False, id=f"{group}.last"),
        Binding(
            "ctrl+pageup,less_than_sign",
            "page_left",
            "Page left (rows sideways)",
            show=False,
            id=f"{group}.page_left",
        ),
        Binding(
            "ctrl+pagedown,greater_than_sign",
            "page_right",
            "Page right (rows sideways)",
            show=False,
            id=f"{group}.page_right",
        ),
    ]


class RowMessage(Message):
    """About the node at a row of a view: the view is the `control` (for `@on` selectors)."""

    def __init__(self, view: CursorView, node: Any) -> None:
        super().__init__()
        self.view = view
        self.node = node

    @property
    def control(self) -> CursorView:
        return self.view


class CursorView(ComponentStyles, ScrollView, can_focus=True):
    """A cursor over `rows` rows, or a line of text instead of them (`show_message`).

    Subclasses say how many rows there are (`rows`), how one reads (`row_segments`), what a move
    of the cursor tells the screen (`_post_highlight`) and what a click on a row does
    (`row_clicked`); their component classes `<COMPONENT_PREFIX>--cursor`, `--cursor-blurred`
    and `--message` style the cursor and the message."""

    COMPONENT_PREFIX: ClassVar[str] = "cursor-view"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.cursor = 0
        self.message_text = ""
        self.x_offset = 0  # cells the rows are scrolled sideways (page left/right)

    # -- for subclasses --------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return 0

    def row_segments(self, index: int) -> list[Segment]:
        """How row `index` reads."""
        raise NotImplementedError

    def _post_highlight(self) -> None:
        """Tell the screen what is under the cursor now."""

    def row_clicked(self, index: int, again: bool, event: events.Click) -> None:
        """A click on row `index`, now under the cursor (`again`: it was already)."""

    # -- what it shows ---------------------------------------------------------------------------
    def show_cursor(self, index: int) -> None:
        """Put the cursor on row `index` of new rows, centred if it was out of sight."""
        self.cursor = min(max(index, 0), max(self.rows - 1, 0))
        self.x_offset = 0
        self._update_size()
        self._scroll_to_cursor(center=True)
        self.refresh()
        self._post_highlight()

    def show_message(self, text: str) -> None:
        """Show a line of text instead of rows (subclasses drop their rows first)."""
        self.message_text = text
        self.cursor = 0
        self.x_offset = 0
        self._update_size()
        self.refresh()

    def _update_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, max(self.rows, 1))

    def on_resize(self, event: events.Resize) -> None:
        self._update_size()

    def move_cursor(self, index: int) -> None:
        """Put the cursor on row `index` (clamped), scrolling it into sight."""
        self._move(index)

    def _move(self, index: int) -> None:
        if not self.rows:
            return
        index = min(max(index, 0), self.rows - 1)
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

    def action_page_left(self) -> None:
        self.scroll_sideways(-self._sideways_step())

    def action_page_right(self) -> None:
        self.scroll_sideways(self._sideways_step())

    def _on_mouse_scroll_left(self, event: events.MouseScrollLeft) -> None:
        event.stop()
        self.scroll_sideways(-4)

    def _on_mouse_scroll_right(self, event: events.MouseScrollRight) -> None:
        event.stop()
        self.scroll_sideways(4)

    def _sideways_step(self) -> int:
        return max(self.scrollable_content_region.width - 8, 4)

    def scroll_sideways(self, cells: int) -> None:
        """Scroll the rows `cells` to the right (to the left if negative), no further than
        the end of the widest row on screen: what a narrow pane cut off can be read."""
        width = self.scrollable_content_region.width
        top = round(self.scroll_offset.y)
        widest = max(
            (
                sum(seg.cell_length for seg in visible_segments(self.row_segments(i)))
                for i in range(top, min(top + self.scrollable_content_region.height, self.rows))
            ),
            default=0,
        )
        offset = min(max(self.x_offset + cells, 0), max(widest - width, 0))
        if offset != self.x_offset:
            self.x_offset = offset
            self.refresh()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = round(self.scroll_offset.y) + offset.y
        if index >= self.rows:
            return
        again = index == self.cursor
        self._move(index)
        self.row_clicked(index, again, event)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- drawing ---------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        prefix = self.COMPONENT_PREFIX
        if self.message_text:  # shown instead of rows
            if y == 0:
                line = [
                    Segment(
                        " " + visible(self.message_text),
                        self.component_style(f"{prefix}--message"),
                    )
                ]
                return Strip(Segment.apply_style(line, base)).crop_extend(0, width, base)
            return Strip.blank(width, base)
        index = round(self.scroll_offset.y) + y
        if index >= self.rows:
            return Strip.blank(width, base)
        cursor = None
        if index == self.cursor:
            cursor = self.component_style(
                f"{prefix}--cursor" if self.has_focus else f"{prefix}--cursor-blurred"
            )
        line = list(Segment.apply_style(visible_segments(self.row_segments(index)), base, cursor))
        x = self.x_offset
        return Strip(line).crop_extend(x, x + width, base + cursor if cursor else base)


def visible_segments(segments: list[Segment]) -> list[Segment]:
    """`segments` with every character a terminal would act on shown as an escape, and without
    control segments (a row has none of its own). Cheap for ordinary text: one `isprintable()`
    per segment, and the segment itself kept."""
    out = []
    for seg in segments:
        if seg.control:
            continue
        shown = visible(seg.text)
        out.append(seg if shown is seg.text else Segment(shown, seg.style))
    return out
