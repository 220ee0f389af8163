"""Slim (from the waste view, `s`): for every layer to slim from, the layers kept and the bytes
saved (exact: what the written image will show); pick one, name the file, and the image is
written as `layerscope slim` writes it (a docker-archive; the command line has the other
formats). An existing file is replaced only if the user agrees; Escape while writing stops it
and leaves nothing behind (layerscope.write.destination).

The image's name, the destination and error messages are shown as `rich.text.Text` of their
`visible()` form, and the final notification goes through `untrusted.notify`."""

from __future__ import annotations

import os
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Static
from textual.worker import Worker, WorkerState

from layerscope.errors import LayerscopeError
from layerscope.model.image import Image
from layerscope.text import visible
from layerscope.ui import untrusted
from layerscope.ui.dialogs.confirm import ConfirmDialog
from layerscope.ui.dialogs.destination import DestinationDialog
from layerscope.views import labels
from layerscope.write.imagefiles import SlimResult, default_tag, write_image
from layerscope.write.plan import Option, default_keep, options, plan


class Stopped(LayerscopeError):
    """The user stopped the writing."""


def default_file(image: Image, home: str | None = None) -> str:
    """`<name>-slim.tar` in ~/Downloads when that is a directory, else in the home directory."""
    home = os.path.expanduser("~") if home is None else home
    stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in image.name.rsplit("/", 1)[-1])
    name = f"{stem.strip('-.') or 'image'}-slim.tar"
    if not home or home == "~":
        return os.path.join(os.getcwd(), name)
    downloads = os.path.join(home, "Downloads")
    return os.path.join(downloads if os.path.isdir(downloads) else home, name)


class OptionsReady(Message):
    def __init__(self, found: list[Option]) -> None:
        super().__init__()
        self.found = found


class Progress(Message):
    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done, self.total = done, total


class SlimDone(Message):
    def __init__(self, result: SlimResult, saved: int) -> None:
        super().__init__()
        self.result, self.saved = result, saved


class SlimDialog(DestinationDialog[SlimResult | None]):
    """Slim from which layer, to which file; then write it."""

    NAME = "slim"

    DEFAULT_CSS = """
    SlimDialog { align: center middle; }
    SlimDialog #slim-options { height: auto; max-height: 12; margin-bottom: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="slim.cancel"),
    ]

    def __init__(self, image: Image, dest: str | None = None) -> None:
        super().__init__()
        self.image = image
        self.default_dest = dest if dest is not None else default_file(image)
        self.keep = default_keep(image)
        self.writing = False
        self.stop = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="slim-dialog") as box:
            box.border_title = "Slim"
            yield Static(self._what(), classes="dialog-text")
            yield DataTable(id="slim-options", cursor_type="row", zebra_stripes=False)
            yield from self.destination("Write the slimmed image (docker-archive) to:", "Write")

    def _what(self) -> Text:
        text = Text()
        text.append(visible(self.image.name), "bold")
        text.append(": keep the layers below the one you pick as they are, and squash the rest")
        text.append(" into one layer holding only what the final filesystem shows. Bytes are")
        text.append(" layerscope's sizes (regular-file bytes), exact.")
        return text

    def on_mount(self) -> None:
        table = self.query_one("#slim-options", DataTable)
        table.add_column("slim from", key="keep")
        table.add_column("layers kept", key="kept")
        table.add_column(Text("new layer", justify="right"), key="new")
        table.add_column(Text("saved", justify="right"), key="saved")
        box = self.query_one("#slim-dest", Input)
        box.cursor_blink = False
        self._status("Working out the bytes each choice saves…")
        self.compute()

    @work(thread=True, exclusive=True, exit_on_error=False, group="slim-options",
          description="Working out the savings")  # fmt: skip
    def compute(self) -> None:
        self.post_message(OptionsReady(options(self.image)))

    def on_options_ready(self, message: OptionsReady) -> None:
        table = self.query_one("#slim-options", DataTable)
        for o in message.found:
            kept = "none" if o.keep == 0 else ("0" if o.keep == 1 else f"0-{o.keep - 1}")
            table.add_row(
                f"layer {o.keep}",
                kept,
                Text(labels.exact(o.squashed_bytes), justify="right"),
                Text(labels.exact(o.saved), justify="right"),
                key=str(o.keep),
            )
        table.move_cursor(row=self.keep)
        table.focus()
        self._status(
            f"Pick the layer to slim from, then Enter. Layer {self.keep} is proposed: "
            + ("the base image's layers kept." if self.keep > 1 else "the first layer kept.")
        )

    @on(DataTable.RowHighlighted, "#slim-options")
    def _chosen(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.keep = int(event.row_key.value)

    @on(DataTable.RowSelected, "#slim-options")
    def _to_destination(self) -> None:
        self.query_one("#slim-dest", Input).focus()

    @on(Input.Submitted, "#slim-dest")
    @on(Button.Pressed, "#slim-go")
    def _go(self) -> None:
        if self.writing:
            return
        if not self.dest:
            self._status("Name a file to write.", error=True)
            return
        if os.path.lexists(self.dest):
            question = Text()
            question.append(visible(self.dest), "bold")
            question.append(" exists. Replace it with the slimmed image?")

            def answer(yes: bool | None) -> None:
                if yes:
                    self._start(force=True)

            self.app.push_screen(ConfirmDialog("Replace?", question, yes="Replace", no="Keep it"),
                                 answer)  # fmt: skip
            return
        self._start(force=False)

    def _start(self, force: bool) -> None:
        self.writing, self.stop = True, False
        self._status(f"Writing {self.dest}… (Escape stops)")
        self.write(self.dest, self.keep, force)

    @work(thread=True, exclusive=True, exit_on_error=False, group="slim",
          description="Writing the slimmed image")  # fmt: skip
    def write(self, dest: str, keep: int, force: bool) -> None:
        p = plan(self.image, keep)

        def progress(done: int, total: int) -> None:
            if self.stop:
                raise Stopped("stopped: nothing was written")
            self.post_message(Progress(done, total))

        result = write_image(self.image, p, dest, tag=default_tag(self.image), force=force,
                             progress=progress)  # fmt: skip
        self.post_message(SlimDone(result, p.saved))

    def on_progress(self, message: Progress) -> None:
        if self.writing and message.total:
            pct = 100 * message.done // message.total
            self._status(f"Writing {self.dest}: {pct}% (Escape stops)")

    def on_slim_done(self, message: SlimDone) -> None:
        self.writing = False
        r = message.result
        untrusted.notify(
            self.app,
            f"Wrote {r.dest}: {len(r.layers)} layers, {labels.exact(message.saved)} saved, "
            f"{labels.exact(r.stored_size)} of layer blobs.",
            title="Slim",
        )
        self.dismiss(r)

    @on(Button.Pressed, "#slim-cancel")
    def action_cancel(self) -> None:
        if self.writing:
            self.stop = True  # the writer stops at its next piece and removes what it wrote
            return
        self.dismiss(None)

    def on_unmount(self) -> None:
        self.stop = True  # the app is ending: a writer still running stops and cleans up

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.writing = False
            self._status(f"Not written: {event.worker.error}", error=True)
