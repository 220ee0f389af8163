"""What the dialogs that write to a place the user names share (export, slim): the field for
the destination under its label, the status line, the buttons to go and to cancel; the
destination as typed (`~` expanded); a status message, shown as `rich.text.Text` (it can name
the destination or an archive member: never parsed as markup, never raw)."""

from __future__ import annotations

import os
from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from layerscope.ui import untrusted

ResultType = TypeVar("ResultType")


class DestinationDialog(ModalScreen[ResultType]):
    """A dialog that writes to a destination the user confirms. Its widgets' ids start with
    `NAME`: `<NAME>-dest` (the field), `<NAME>-status`, `<NAME>-go`, `<NAME>-cancel`."""

    NAME: ClassVar[str] = ""
    default_dest: str  # what the field holds at first

    def destination(self, label: str, go: str) -> ComposeResult:
        """The destination's label and field, the status line, and the buttons (`go`, Cancel)."""
        yield Label(label)
        yield Input(self.default_dest, id=f"{self.NAME}-dest", select_on_focus=False)
        yield Static(id=f"{self.NAME}-status", classes="dialog-status")
        with Horizontal(classes="dialog-buttons"):
            yield Button(go, variant="primary", id=f"{self.NAME}-go")
            yield Button("Cancel", id=f"{self.NAME}-cancel")

    @property
    def dest(self) -> str:
        """The destination typed, `~` expanded."""
        return os.path.expanduser(self.query_one(f"#{self.NAME}-dest", Input).value.strip())

    def _status(self, message: str, error: bool = False) -> None:
        self.query_one(f"#{self.NAME}-status", Static).update(
            untrusted.text(message, style="bold red" if error else "italic")
        )
