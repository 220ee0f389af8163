"""The line of keys at the bottom of every screen: what the focused pane and the screen offer.

Textual's Footer mounts one widget per key again whenever the focus moves, which took half the
time of a tab between panes on a big image. This is one line of text, rewritten only when the
keys it shows change; a click on a key presses it.
"""

from __future__ import annotations

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
        self.shown: tuple[Key, ...] | None = None
        self.palette: Key | None = None  # the command palette's key, shown on the right

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        # once the screen's widgets are mounted: checking its actions may look them up
        self.call_after_refresh(self._bindings_changed, self.screen)

    def _bindings_changed(self, screen: Screen) -> None:
        if screen is not self.screen:
            return
        keys, palette = self.keys(screen)
        if (keys, palette) != (self.shown, self.palette):
            self.shown, self.palette = keys, palette
            self._show()

    def on_resize(self) -> None:
        self._show()

    def _show(self) -> None:
        if self.shown is None:
            return
        line = render_keys(self.shown)
        if self.palette is not None:
            right = render_keys((self.palette,))
            gap = self.size.width - line.cell_length - right.cell_length
            line = line + Content(" " * max(1, gap)) + right
        self.update(line)

    def keys(self, screen: Screen) -> tuple[tuple[Key, ...], Key | None]:
        """The keys to show: one per action, in the order the bindings come; and the command
        palette's."""
        app = self.app
        out: list[Key] = []
        actions: set[str] = set()
        palette_key = app.COMMAND_PALETTE_BINDING if app.ENABLE_COMMAND_PALETTE else None
        palette: Key | None = None
        for key, (_node, binding, enabled, _tip) in screen.active_bindings.items():
            shown = (binding.key, app.get_key_display(binding), binding.description, enabled)
            if key == palette_key:
                palette = shown
            elif binding.show and binding.action not in actions:
                actions.add(binding.action)
                out.append(shown)
        return tuple(out), palette


def render_keys(keys: tuple[Key, ...]) -> Content:
    """Keys as Textual's Footer shows them: the key in the accent colour, then what it does."""
    parts = []
    for key, display, description, enabled in keys:
        text = f"[bold $footer-key-foreground] {escape(display)} [/]{escape(description)}"
        if not enabled:
            text = f"[dim]{text}[/]"
        parts.append(f'[@click=app.simulate_key("{key}")]{text}[/]')
    return Content.from_markup(" ".join(parts))
