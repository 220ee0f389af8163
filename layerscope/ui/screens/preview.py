"""File preview: a file as it is in the selected layer, read from the archive on demand (in a
worker) — text with syntax highlighting, binary as hex, a large file in part — and, for a file
this layer modified, a unified diff against the version below.

A file's content is the archive's to choose: it is shown line by line through
`layerscope.text.visible_lines` (every control, escape and bidi character an escape; tabs kept,
as spaces) before it is highlighted, so the highlighter only ever sees visible text; a diff is
made of the raw lines and each line made visible the same way. The path, link target and digest are shown
visibly too, and none of it is ever parsed as markup."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import ClassVar

from rich.console import RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Header, Static
from textual.worker import get_current_worker

from layerscope.errors import Cancelled
from layerscope.insight.content import content_source, read_entry
from layerscope.model.analysis import pack, unpack
from layerscope.model.image import Image
from layerscope.read.records import Entry
from layerscope.text import visible, visible_lines
from layerscope.ui import untrusted
from layerscope.ui.screens.insight import InsightScreen, failure
from layerscope.ui.widgets.keybar import KeyBar
from layerscope.views import labels
from layerscope.views.treeview import Node

TEXT_LIMIT = 64 * 1024  # bytes of a text file shown
HEX_LIMIT = 8 * 1024  # bytes of a binary file shown as hex
DIFF_LIMIT = 256 * 1024  # bytes of each side read for a diff
TAB_SIZE = 4  # columns between tab stops (Rich's own; expanded here: Rich measures a tab as 0)
_EXTENSIONS = {"conf": "ini", "cfg": "ini", "cnf": "ini", "service": "ini", "env": "bash"}


def lexer_for(path: str, text: str) -> str:
    """A Pygments lexer name for a file: from its name, else its shebang, else plain text."""
    name = Syntax.guess_lexer(path, None)
    if name != "default":
        return name
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    if text.startswith("#!"):
        from pygments.lexers import guess_lexer
        from pygments.util import ClassNotFound

        try:
            return guess_lexer(text.split("\n", 1)[0]).aliases[0]
        except (ClassNotFound, IndexError):
            pass
    return "text"


def decode(data: bytes, truncated: bool) -> str | None:
    """The text of a file's bytes, or None if they look binary (a NUL, or not UTF-8; a
    character cut by the end of what was read is forgiven)."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if truncated and e.start >= len(data) - 3:
            return data[: e.start].decode("utf-8", errors="replace")
        return None


def hex_dump(data: bytes) -> Text:
    """`00000000  7f 45 4c 46 02 01 01 00  00 00 00 00 00 00 00 00  |.ELF............|`."""
    text = Text(no_wrap=True)
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk[:8])
        if len(chunk) > 8:
            hexes += "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        shown = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        text.append(f"{off:08x}  ", "dim")
        text.append(f"{hexes:<49} ")
        text.append(f"|{shown}|", "dim")
        text.append("\n")
    return text


class PreviewReady(Message):
    def __init__(
        self, content: RenderableType, note: str, diff: RenderableType | None, diff_note: str
    ) -> None:
        super().__init__()
        self.content = content
        self.note = note
        self.diff = diff
        self.diff_note = diff_note


class PreviewScreen(InsightScreen[None]):
    """One file's content, and what this layer changed in it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "back", "Back", show=False, id="preview.back"),
        Binding("d", "toggle_diff", "Diff/Content", id="preview.diff"),
    ]

    def __init__(self, image: Image, layer: int, row: int, node: Node, *, as_of: int) -> None:
        super().__init__()
        self.image = image
        self.entry_layer = layer
        self.row = row
        self.node = node
        self.as_of = as_of
        self.entry: Entry = image.layers[layer].data.entry(row)  # type: ignore[union-attr]
        self.below: tuple[int, int] | None = None
        self.showing_diff = False
        self.ready: PreviewReady | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="◧")
        yield Static(id="preview-info", classes="summary")
        with VerticalScroll(id="preview-pane", classes="pane"):
            yield Static(id="preview-content")
        yield KeyBar()

    def on_mount(self) -> None:
        self.title = "layerscope"
        self.sub_title = f"{visible(self.image.name)}  ·  /{visible(self.node.path)}"
        self.below = self._below()
        self.query_one("#preview-info", Static).update(self._info())
        self.query_one("#preview-content", Static).update(Text("Reading…", style="italic"))
        self._title()
        self.query_one("#preview-pane").focus()
        self.read()

    def _below(self) -> tuple[int, int] | None:
        """The entry this one replaced, when this layer changed the content."""
        try:
            a = self.image.analysis
        except RuntimeError:
            return None
        ref = pack(self.entry_layer, self.row)
        if self.image.layers[self.entry_layer].status(self.row) != "modified":
            return None
        below = a.below.get(ref)
        return unpack(below) if below is not None and below >= 0 else None

    def _info(self) -> Text:
        e, node = self.entry, self.node
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"/{visible(node.path)}  ", "bold")
        if e.link:
            text.append(("→ " if e.type == "symlink" else "⇒ /") + visible(e.link) + "  ")
        text.append(f"{e.type} {labels.exact(e.size) if e.type == 'file' else ''}  ")
        text.append(f"{labels.mode(e.mode, e.type)} {e.uid}:{e.gid}  ")
        where = f"stored by layer {self.entry_layer}"
        if node.status not in ("unchanged", "pending") and node.kind != "removed":
            where = f"{node.status} in layer {self.entry_layer}"
        text.append(where)
        if node.kind == "removed":
            text.append(f", removed by layer {node.hidden_by}")
            if node.how:
                text.append(f" ({node.how})")
        elif node.hidden_by is not None:
            text.append(f", hidden by layer {node.hidden_by} ({node.how})")
        text.append("\n")
        text.append(visible(e.digest or ""), "dim")
        return text

    def _title(self) -> None:
        pane = self.query_one("#preview-pane")
        ready = self.ready
        if self.showing_diff:
            assert self.below is not None
            pane.border_title = f"Diff: layer {self.below[0]} → layer {self.entry_layer}"
            pane.border_subtitle = (ready.diff_note if ready else "") + "  d: content"
        else:
            pane.border_title = f"Content as of layer {self.as_of}"
            sub = ready.note if ready else ""
            if self.below is not None:
                sub += "  d: diff against the version below"
            pane.border_subtitle = sub.strip()

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview",
          description="Reading the file")  # fmt: skip
    def read(self) -> None:
        worker = get_current_worker()
        cancelled = lambda: worker.is_cancelled  # noqa: E731
        e = self.entry
        if e.type == "symlink":
            content: RenderableType = untrusted.text(f"A symbolic link to {e.link}", "italic")
            self.post_message(PreviewReady(content, "", None, ""))
            return
        try:
            data, size = _read(self.image, self.entry_layer, self.row, TEXT_LIMIT, cancelled)
        except Cancelled:
            return
        text = decode(data, len(data) < size)
        if text is None:
            shown = data[:HEX_LIMIT]
            content = hex_dump(shown)
            note = "binary, as hex"
        else:
            shown = data
            lexer = lexer_for(self.node.path, text)
            content = self._syntax(shown_text(text), lexer)
            note = "text" if lexer == "text" else f"text, highlighted as {lexer}"
        if len(shown) < size:
            note += f"; the first {labels.size(len(shown))} of {labels.size(size)}"
        diff, diff_note = None, ""
        if self.below is not None:
            try:
                diff, diff_note = self._diff(cancelled)
            except Cancelled:
                return
        if not worker.is_cancelled:
            self.post_message(PreviewReady(content, note, diff, diff_note))

    def _syntax(self, text: str, lexer: str) -> Syntax:
        theme = "monokai" if self.app.current_theme.dark else "default"
        return Syntax(
            text.removesuffix("\n"),  # no empty numbered line after the last one
            lexer,
            theme=theme,
            line_numbers=True,
            word_wrap=False,
            tab_size=TAB_SIZE,
            background_color="default",  # the pane's own background
        )

    def _diff(self, cancelled: Callable[[], bool]) -> tuple[RenderableType, str]:
        assert self.below is not None
        bpos, brow = self.below
        new, new_size = _read(self.image, self.entry_layer, self.row, DIFF_LIMIT, cancelled)
        old, old_size = _read(self.image, bpos, brow, DIFF_LIMIT, cancelled)
        part = new_size > len(new) or old_size > len(old)
        a_text, b_text = decode(old, old_size > len(old)), decode(new, new_size > len(new))
        if a_text is None or b_text is None:
            text = Text(
                f"Binary content differs: {labels.exact(old_size)} in layer {bpos}, "
                f"{labels.exact(new_size)} in layer {self.entry_layer}.",
                style="italic",
            )
            return text, "binary"
        lines = difflib.unified_diff(
            _lines(a_text),
            _lines(b_text),
            fromfile=f"layer {bpos}/{self.node.path}",
            tofile=f"layer {self.entry_layer}/{self.node.path}",
        )
        diff = "".join(shown_line(line) + "\n" for line in lines)
        note = "unified diff" + (f"; of the first {labels.size(DIFF_LIMIT)}" if part else "")
        if not diff:
            return Text(
                "Same text (the bytes differ only in what was not read).", style="italic"
            ), note
        return self._syntax(diff, "diff"), note

    def on_preview_ready(self, message: PreviewReady) -> None:
        self.ready = message
        self.showing_diff = message.diff is not None
        self._show()

    def _show(self) -> None:
        if self.ready is None:
            return
        body = self.ready.diff if self.showing_diff else self.ready.content
        assert body is not None  # a diff is shown only when there is one
        self.query_one("#preview-content", Static).update(body)
        self._title()

    def show_failure(self, error: BaseException) -> None:
        self.query_one("#preview-content", Static).update(
            Text(failure("The file could not be read", error), style="bold")
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_diff":
            return self.ready is not None and self.ready.diff is not None
        return True

    def action_toggle_diff(self) -> None:
        if self.ready is not None and self.ready.diff is not None:
            self.showing_diff = not self.showing_diff
            self._show()


def shown_text(text: str) -> str:
    """A file's text as it is shown: every line visible (`visible_lines`), its tabs kept as
    the spaces they stand for."""
    return "\n".join(line.expandtabs(TAB_SIZE) for line in visible_lines(text))


def shown_line(line: str) -> str:
    """One line of a diff as it is shown: without its line end (`\\n`, or `\\r\\n`), visible,
    its tabs kept as the spaces they stand for."""
    line = line.removesuffix("\n").removesuffix("\r")
    return visible(line, keep="\t").expandtabs(TAB_SIZE)


def _lines(text: str) -> list[str]:
    """`text` cut after each `\\n` only (a `\\r` or another break `splitlines` knows stays in
    its line, where it shows as an escape)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def _read(
    image: Image, layer: int, row: int, limit: int, cancelled: Callable[[], bool]
) -> tuple[bytes, int]:
    """Up to `limit` bytes of an entry's content (`content.read_entry`), and its full size;
    `Cancelled` if the worker was cancelled meanwhile."""
    pos, r = content_source(image, layer, row)
    size = image.layers[pos].data.sizes[r]  # type: ignore[union-attr]
    data = read_entry(image, layer, row, limit)
    if cancelled():
        raise Cancelled()
    return data, size
