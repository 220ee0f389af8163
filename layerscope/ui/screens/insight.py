"""What every insight view (waste, history, sharing, compare, preview) shares: a way back to the
screen that opened it, with where to go next (`GoTo`, `ShowImage`: the result it is dismissed
with), and one place where a failed worker becomes a message; and, for the views whose main
widget is a tree worked out in a thread (waste, findings, compare), `OutlineScreen`: the tree,
the worker, what is shown while it works and when it fails, opening and closing the tree. A view
knows nothing of the main screen: the main screen opens it and follows its result.

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
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar, cast

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from layerscope.model.image import Image
from layerscope.text import one_line
from layerscope.ui import untrusted
from layerscope.ui.widgets.outline import OutlineView
from layerscope.views.outline import OutlineNode, open_while_small

ResultType = TypeVar("ResultType")
Found = TypeVar("Found")


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


class OutlineReady(Message):
    """An outline view's work is done: what it found, and the tree to show."""

    def __init__(self, found: object, root: OutlineNode) -> None:
        super().__init__()
        self.found = found
        self.root = root


class OutlineScreen(InsightScreen[ResultType], Generic[ResultType, Found]):
    """An insight view whose main widget is a tree (an `OutlineView`) worked out in a thread:
    waste, findings, compare. A subclass names its tree, its panes and its work; `work_out`
    makes what it found and the tree (in the worker), `show_found` shows them. The tree waits
    with the work's name (`Finding dead bytes…`) and says why when the work fails; e and c
    open and close all of it."""

    TREE: ClassVar[type[OutlineView]] = OutlineView  # the class of the view's tree
    PANES: ClassVar[dict[str, str]] = {}  # each pane's border title, by the pane's id
    WORK: ClassVar[str] = ""  # the worker's description (its failure is `<WORK> failed`)
    GROUP: ClassVar[str] = ""  # the worker's group (a newer worker cancels an older one)
    FAILED: ClassVar[str] = ""  # what the tree says when the work fails: `<FAILED>: <error>`
    OPEN_ROWS: ClassVar[int] = 300  # the tree opens at first while the rows shown stay under this

    def __init__(self) -> None:
        super().__init__()
        self.root: OutlineNode | None = None

    @property
    def outline_view(self) -> OutlineView:
        """The view's tree."""
        return self.query_one(self.TREE)

    def on_mount(self) -> None:
        self.title = "layerscope"
        for pane, title in self.PANES.items():
            self.query_one(f"#{pane}").border_title = title
        self.outline_view.focus()
        self.start()

    def start(self) -> None:
        """Once mounted: say that the work goes on (in the summary and the tree), and start it."""
        self.query_one(".summary", Static).update(f"{self.WORK}…")
        self.outline_view.show_message(f"{self.WORK}…")
        self.compute()

    def compute(self, *args: Any) -> None:
        """`work_out(*args)` in a thread; its result is shown once it is done (`show_found`)."""
        self.run_worker(
            partial(self._compute, *args),
            name="compute",
            group=self.GROUP,
            description=self.WORK,
            exclusive=True,
            exit_on_error=False,
            thread=True,
        )

    def _compute(self, *args: Any) -> None:
        found, root = self.work_out(*args)
        if not get_current_worker().is_cancelled:
            self.post_message(OutlineReady(found, root))

    def work_out(self, *args: Any) -> tuple[Found, OutlineNode]:
        """What the view found, and the tree that shows it (in the worker: no widget here)."""
        raise NotImplementedError

    def on_outline_ready(self, message: OutlineReady) -> None:
        self.show_found(cast(Found, message.found), message.root)

    def show_found(self, found: Found, root: OutlineNode) -> None:
        """Show what the work found (the summary, then `show_tree`)."""
        self.show_tree(root)

    def show_tree(self, root: OutlineNode, nothing: str | None = None) -> None:
        """The tree, opened while the rows shown stay under `OPEN_ROWS`; or, where `nothing`
        says why there is nothing to show, that."""
        self.root = root
        if nothing is not None:
            self.outline_view.show_message(nothing)
            return
        self.outline_view.show(root, open_while_small(root, self.OPEN_ROWS))

    def show_failure(self, error: BaseException) -> None:
        self.outline_view.show_message(failure(self.FAILED, error))

    def action_expand_all(self) -> None:
        if self.root is not None:
            self.outline_view.expand_all(self.root)

    def action_collapse_all(self) -> None:
        if self.root is not None:
            self.outline_view.collapse_all(self.root)
