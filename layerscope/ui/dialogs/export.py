"""Export: write the selected file, or a directory as of the selected layer, to a destination
the user confirms. A file the layer removed (or a later entry hid) is written as the layer that
stored it had it: the bytes the preview shows. Existing files are kept unless the user says to
overwrite them. The destination proposed is `default_destination()`, never the current directory
blindly. (The writing itself — never outside the destination, whatever the archive's names, never
through a symlink someone else planted — is layerscope.insight.export.)

The path, the image's name, the names of existing files and error messages (which can name
members) are shown as `rich.text.Text` of their `visible()` form, and the final notification
goes through `untrusted.notify`: none is parsed as markup or reaches the terminal raw."""

from __future__ import annotations

import os
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, Input, Static
from textual.worker import Worker, WorkerState

from layerscope.insight.export import ExportResult, export, exported_as_of, hidden_by
from layerscope.model.analysis import unpack
from layerscope.model.image import Image
from layerscope.model.kinds import How
from layerscope.read.records import DIR
from layerscope.text import visible
from layerscope.ui import untrusted
from layerscope.ui.dialogs.confirm import ConfirmDialog
from layerscope.ui.dialogs.destination import DestinationDialog
from layerscope.views import labels

SHOW_NAMES = 5  # existing files named in the question
FOLDER = "layerscope-export"  # the folder proposed, in the downloads or home directory


def default_destination(home: str | None = None) -> str:
    """The destination proposed: `layerscope-export` in ~/Downloads when that is a directory,
    else in the home directory (the current directory only when there is no home): a folder of
    its own, so that an export never lands among the files of wherever layerscope was started."""
    home = os.path.expanduser("~") if home is None else home
    if not home or home == "~":
        return os.path.join(os.getcwd(), FOLDER)
    downloads = os.path.join(home, "Downloads")
    return os.path.join(downloads if os.path.isdir(downloads) else home, FOLDER)


class ExportDone(Message):
    def __init__(self, dest: str, result: ExportResult, overwrite: bool) -> None:
        super().__init__()
        self.dest = dest
        self.result = result
        self.overwrite = overwrite


class ExportDialog(DestinationDialog[ExportResult | None]):
    """Where to write; then write, asking before anything is overwritten."""

    NAME = "export"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="export.cancel"),
    ]

    def __init__(
        self,
        image: Image,
        path: str,
        layer: int,
        dest: str | None = None,
        entry: int | None = None,
    ) -> None:
        """`entry`: the packed (layer, row) of the tree's node at `path` (None or negative for
        an implied directory), so that a removed or hidden entry is exported as stored."""
        super().__init__()
        self.image = image
        self.path = path.strip("/")
        self.as_of = layer
        self.entry = unpack(entry) if entry is not None and entry >= 0 else None
        self.default_dest = dest if dest is not None else default_destination()
        self.result: ExportResult | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export-dialog") as box:
            box.border_title = "Export"
            yield Static(self._what(), classes="dialog-text")
            yield from self.destination("Destination directory (created if missing):", "Export")

    def _what(self) -> Text:
        text = Text()
        text.append(f"/{visible(self.path)}", "bold")
        text.append(f" {self._when()} of {visible(self.image.name)}.")
        text.append("\nA directory is written with everything under it; existing files are kept")
        text.append(" unless you agree to overwrite them.")
        return text

    def _when(self) -> str:
        """`as of layer 3`; for an entry removed or hidden by then, as which layer had it."""
        h = None if self.entry is None else hidden_by(self.image, self.entry, self.as_of)
        if self.entry is None or h is None:
            return f"as of layer {self.as_of}"
        how = How(self.image.analysis.how[self.entry[0]][self.entry[1]]).reason
        if self.image.layers[self.entry[0]].index.types[self.entry[1]] == DIR:
            had = f"as of layer {exported_as_of(self.image, self.entry, self.as_of)}"
        else:
            had = f"as layer {self.entry[0]} stored it"
        return f"{had}, before layer {h} hid it ({how})"

    def on_mount(self) -> None:
        box = self.query_one("#export-dest", Input)
        box.cursor_blink = False
        box.focus()

    @on(Input.Submitted, "#export-dest")
    @on(Button.Pressed, "#export-go")
    def _go(self) -> None:
        if not self.dest:
            self._status("Name a destination directory.", error=True)
            return
        self._status(f"Writing to {self.dest}…")
        self.write(self.dest, overwrite=False)

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export",
          description="Exporting")  # fmt: skip
    def write(self, dest: str, overwrite: bool) -> None:
        result = export(self.image, self.path, self.as_of, dest, overwrite=overwrite,
                        entry=self.entry, removed_ok=True)  # fmt: skip
        self.post_message(ExportDone(dest, result, overwrite))

    def on_export_done(self, message: ExportDone) -> None:
        result = message.result
        if result.existing and not message.overwrite:
            self.result = result
            names = ", ".join(visible(name) for name in result.existing[:SHOW_NAMES])
            more = len(result.existing) - SHOW_NAMES
            if more > 0:
                names += f" and {more:,} more"
            question = Text()
            question.append(labels.plural(len(result.existing), "file") + " already exist")
            question.append(f" in {visible(message.dest)}: ")
            question.append(names, "bold")
            question.append(".\nOverwrite them with the image's version?")
            if result.written:
                question.append(f"\n({labels.plural(len(result.written), 'entry', 'entries')} ")
                question.append("were written already.)")

            def answer(yes: bool | None) -> None:
                if yes:
                    self._status("Overwriting…")
                    self.write(message.dest, overwrite=True)
                else:
                    self._finish(message.dest, result, kept=True)

            self.app.push_screen(
                ConfirmDialog("Overwrite?", question, yes="Overwrite", no="Keep them"), answer
            )
            return
        self._finish(message.dest, result, kept=False)

    def _finish(self, dest: str, result: ExportResult, kept: bool) -> None:
        parts = [f"wrote {labels.plural(len(result.written), 'entry', 'entries')} to {dest}"]
        if self.entry is None and result.as_of is not None and result.as_of != self.as_of:
            parts[0] += f" (as of layer {result.as_of}, before layer {self.as_of} removed it)"
        if result.skipped:
            parts.append(
                f"skipped {len(result.skipped):,} (devices, fifos, broken links, bad names…)"
            )
        if kept and result.existing:
            parts.append(f"kept {labels.plural(len(result.existing), 'existing file')}")
        message = "; ".join(parts)  # capitalize() would lower the destination's letters
        untrusted.notify(self.app, message[0].upper() + message[1:] + ".", title="Export")
        self.dismiss(result)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self._status(f"Not exported: {error}", error=True)
