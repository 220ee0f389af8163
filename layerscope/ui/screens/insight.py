"""What every insight view (waste, history, sharing, compare, preview) shares: a way back to the
screen that opened it, with where to go next (`GoTo`, `ShowImage`: the result it is dismissed
with), and one place where a failed worker becomes a message. A view knows nothing of the main
screen: the main screen opens it and follows its result.

The views show text from an image (names, paths, link targets, tags, platforms, history commands,
file contents, error messages naming members). None of it reaches a widget as a `str` Textual
would parse as markup, and none of it raw: it goes through `layerscope.text.visible` (control,
escape and bidi characters shown as escapes) and, where a widget parses a `str` (`Static`,
`DataTable` cells, border titles, `Select` prompts, notifications), as a `rich.text.Text` from
`ui.untrusted`. Rows of the outline views are made visible where every row is drawn
(`widgets.cursor_view`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeVar

from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from layerscope.model.image import Image
from layerscope.text import one_line
from layerscope.ui import untrusted

ResultType = TypeVar("ResultType")


def notify_failure(screen: Screen, worker: Worker) -> None:
    """Say that a worker failed and why (the main screen's workers too, in the same words). The
    error's message can name archive members: it is shown as text, visibly, on one line."""
    untrusted.notify(
        screen,
        one_line(f"{type(worker.error).__name__}: {worker.error}"),
        title=f"{worker.description or worker.name} failed",
        severity="error",
        timeout=15,
    )


def failure(what: str, error: BaseException) -> str:
    """`what: error` as one visible line (an error's message can name archive members)."""
    return one_line(f"{what}: {error}")


def shown_number(image: Image) -> int:
    """An image's number as a person reads and types it: from 1 (`Image.number` is from 0)."""
    return image.number + 1


@dataclass(frozen=True)
class GoTo:
    """Go to `path` in the file tree, at `layer` of `image`, in `mode` ("changes" or "image")."""

    path: str
    layer: int
    image: Image
    mode: str = "changes"


@dataclass(frozen=True)
class ShowImage:
    """Browse `image`, at `layer` (None: where browsing an image starts)."""

    image: Image
    layer: int | None = None


class InsightScreen(Screen[ResultType]):
    """A full-screen view opened from the main screen; escape goes back to it (dismissed with
    None), a jump dismisses it with where to go (`GoTo`, `ShowImage`)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="view.back"),
    ]

    def action_back(self) -> None:
        self.dismiss(None)

    def theme_style(self, variable: str) -> str:
        """A rich style string for a theme colour (for cells of a DataTable)."""
        return self.app.get_css_variables().get(variable, "") if variable else ""

    def show_failure(self, error: BaseException) -> None:
        """Where a view says its work failed (subclasses put it in their main widget)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        notify_failure(self, event.worker)
        if event.worker.error is not None:
            self.show_failure(event.worker.error)
