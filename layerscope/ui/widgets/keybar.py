"""The line of keys at the bottom of every screen: what the focused pane and the screen offer.

Textual's Footer mounts one widget per key again whenever the focus moves, which took half the
time of a tab between panes on a big image. This is one line of text, rewritten only when the
keys it shows change; a click on a key presses it.

The app's own keys (`q` quits, `?` lists every key) and the command palette's stay on the
right at any width: where the line is too short, the screen's last keys give way first. A
screen with a `key_shown(action)` method leaves out the actions it says no to.
"""

from __future__ import annotations

import functools

from textual.binding import Binding
from textual.content import Content
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Static

Key = tuple[str, str, str, bool]  # key, how it is shown, description, enabled


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-description-foreground;
    }
    """

    def __init__(self) -> None:
        super().__init__("", markup=False)
        self.set_reactive(KeyBar.auto_links, False)  # keys, not links: no underline
        self.shown: tuple[Key, ...] | None = None  # the screen's and the focused pane's keys
        self.always: tuple[Key, ...] = ()  # the app's own keys, on the right
        self.palette: Key | None = None  # the command palette's key, shown on the right

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        # once the screen's widgets are mounted: checking its actions may look them up
        self.call_after_refresh(self._bindings_changed, self.screen)

    def _bindings_changed(self, screen: Screen) -> None:
        if screen is not self.screen:
            return
        keys, always, palette = self.keys(screen)
        if (keys, always, palette) != (self.shown, self.always, self.palette):
            self.shown, self.always, self.palette = keys, always, palette
            self._show()

    def on_resize(self) -> None:
        self._show()

    def _show(self) -> None:
        if self.shown is None:
            return
        keys = self.shown
        right = render_keys(self.always + ((self.palette,) if self.palette is not None else ()))
        room = self.size.width - right.cell_length - 1
        count = len(keys)
        line = render_keys(keys)
        while count and line.cell_length > room:
            count -= 1
            line = render_keys(keys[:count])
        gap = self.size.width - line.cell_length - right.cell_length
        self.update(line + Content(" " * max(1, gap)) + right)

    def keys(self, screen: Screen) -> tuple[tuple[Key, ...], tuple[Key, ...], Key | None]:
        """The keys to show, one per action in the order the bindings are declared (a key the
        user's keymap moved keeps its place): the screen's and the focused pane's, then the
        app's own; and the command palette's."""
        app = self.app
        out: list[tuple[tuple[int, int], Key]] = []
        always: list[Key] = []
        actions: set[str] = set()
        palette_key = app.COMMAND_PALETTE_BINDING if app.ENABLE_COMMAND_PALETTE else None
        palette: Key | None = None
        shown_by_screen = getattr(screen, "key_shown", None)
        chain = [node for node, _bindings in screen._binding_chain]
        for key, (node, binding, enabled, _tip) in screen.active_bindings.items():
            shown = (binding.key, app.get_key_display(binding), binding.description, enabled)
            if key == palette_key:
                palette = shown
            elif not binding.show or binding.action in actions:
                continue
            elif shown_by_screen is None or shown_by_screen(binding.action):
                actions.add(binding.action)
                if node is app:
                    always.append(shown)
                else:
                    rank = declared(type(node)).get(binding.id or "", len(out))
                    where = chain.index(node) if node in chain else len(chain)
                    out.append(((where, rank), shown))
        out.sort(key=lambda item: item[0])
        return tuple(k for _rank, k in out), tuple(always), palette


@functools.cache
def declared(cls: type) -> dict[str, int]:
    """The ids of a class's bindings, numbered in the order they are declared."""
    ids: dict[str, int] = {}
    for klass in reversed(cls.__mro__):
        for binding in vars(klass).get("BINDINGS", ()):
            if isinstance(binding, Binding) and binding.id:
                ids.setdefault(binding.id, len(ids))
    return ids


def render_keys(keys: tuple[Key, ...]) -> Content:
    """Keys as Textual's Footer shows them: the key in the accent colour, then what it does."""
    parts = []
    for key, display, description, enabled in keys:
        text = f"[bold $footer-key-foreground] {escape(display)} [/]{escape(description)}"
        if not enabled:
            text = f"[dim]{text}[/]"
        parts.append(f'[@click=app.simulate_key("{key}")]{text}[/]')
    return Content.from_markup(" ".join(parts))
