"""Every key binding, wherever it applies, and what the file tree's marks and colours mean."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Static

from layerscope.model.kinds import Kind
from layerscope.ui import untrusted
from layerscope.ui.keymap import keymap_path
from layerscope.views.listing import FILTER_KINDS


class HelpScreen(ModalScreen[None]):
    """A list of every binding, grouped by where it works."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close"),
    ]

    def __init__(self, groups: list[tuple[str, DOMNode]]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Keys  (esc closes)"
            body.border_subtitle = untrusted.text(f"the ids (right) remap keys in {keymap_path()}")
            yield Static(self._table(), id="help-keys")

    def rows(self) -> list[tuple[str, str, str]]:
        """(group, keys, description) for every binding with a description."""
        return [(title, keys, description) for title, keys, description, _ids in self.entries()]

    def entries(self) -> list[tuple[str, str, str, str]]:
        """(group, keys, description, ids) for every binding with a description: the keys as
        they are after the user's keymap, and the ids a keymap file names them by."""
        app = self.app
        # keys the app takes first, wherever the focus is (ctrl+c quits): not another's there
        taken = {key for key, binding in app._bindings if binding.priority}
        out = []
        for title, node in self.groups:
            by_action: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
            bindings = node._bindings.copy()
            if app._keymap:  # the keys as the user remapped them (as the screen does)
                bindings.apply_keymap(app._keymap)
            for key, binding in bindings:
                if not binding.description or binding.system:
                    continue
                if node is not app and key in taken:
                    continue
                keys, ids = by_action.setdefault((binding.action, binding.description), ([], []))
                shown = self.app.get_key_display(binding) if key == binding.key else key
                if shown not in keys:
                    keys.append(shown)
                if binding.id and binding.id not in ids:
                    ids.append(binding.id)
            for (_action, description), (keys, ids) in by_action.items():
                out.append((title, " ".join(keys), description, " ".join(ids)))
        return out

    def _table(self) -> Table:
        table = Table.grid(padding=(0, 3))
        table.add_column(no_wrap=True, style="bold")
        table.add_column()
        table.add_column(style="dim")  # the ids, for a keymap file
        last = None
        for title, keys, description, ids in self.entries():
            if title != last:
                self._heading(table, title, first=last is None)
                last = title
            table.add_row(keys, description, ids)
        self._heading(table, "File tree marks")
        filter_keys = {label: f"{n}  " for n, label in enumerate(FILTER_KINDS, 1)}
        for kind in Kind:  # keys 1-7 hide or show a kind; pending has none
            key = filter_keys.get(kind.label, "   ")
            table.add_row(f"{key}{kind.mark.strip() or ' '}  {kind.label}", kind.help)
        self._heading(table, "Mouse")
        table.add_row("click", "a layer: select it; a directory: open or close it")
        table.add_row("", "the summary: a top waste goes to it, Reclaimable opens the waste view")
        table.add_row("wheel", "scroll the pane under the pointer")
        return table

    @staticmethod
    def _heading(table: Table, title: str, first: bool = False) -> None:
        if not first:
            table.add_row("", "", "")
        table.add_row(Text(title, style="bold underline"), "", "")
