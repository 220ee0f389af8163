"""Path history: every layer that touched one path — added, modified, metadata changed,
rewritten, removed — with size, mode, owner and content digest at each step. Enter goes to the
path in the file tree at that layer.

The path, the image's name, commands and digests come from the archive: shown visibly, as text,
never as markup (see `screens.insight`)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Header, Static
from textual.worker import get_current_worker

from layerscope.insight.pathhistory import PathStep, path_history
from layerscope.model.image import Image
from layerscope.model.kinds import How, Kind
from layerscope.text import visible
from layerscope.ui import untrusted
from layerscope.ui.screens.insight import GoTo, InsightScreen, failure
from layerscope.ui.widgets.keybar import KeyBar
from layerscope.views import labels


class HistoryReady(Message):
    def __init__(self, steps: list[PathStep]) -> None:
        super().__init__()
        self.steps = steps


class HistoryScreen(InsightScreen[GoTo | None]):
    """The story of one path, bottom layer first (dismissed with the step to go to, or None)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("H", "back", "Back", show=False, id="history.back"),
    ]

    def __init__(self, image: Image, path: str) -> None:
        super().__init__()
        self.image = image
        self.path = path.strip("/")
        self.steps: list[PathStep] = []

    def compose(self) -> ComposeResult:
        yield Header(icon="◧")
        yield Static(id="history-summary", classes="summary")
        with Vertical(id="history-pane", classes="pane"):
            yield DataTable(id="history-table", cursor_type="row")
            yield Static(id="history-entry", classes="entry-line")
        yield KeyBar()

    @property
    def table(self) -> DataTable:
        return self.query_one("#history-table", DataTable)

    def on_mount(self) -> None:
        self.title = "layerscope"
        path = visible(self.path)
        self.sub_title = f"{visible(self.image.name)}  ·  history of /{path}"
        self.query_one("#history-pane").border_title = Text(f"Every layer that touched /{path}")
        self.query_one("#history-summary", Static).update(Text(f"Reading the history of /{path}…"))
        self.table.focus()
        self.compute()

    @work(thread=True, exclusive=True, exit_on_error=False, group="history",
          description="Reading the path's history")  # fmt: skip
    def compute(self) -> None:
        steps = path_history(self.image, self.path)
        if not get_current_worker().is_cancelled:
            self.post_message(HistoryReady(steps))

    def show_failure(self, error: BaseException) -> None:
        self.query_one("#history-summary", Static).update(
            Text(failure("The history could not be read", error))
        )

    def on_history_ready(self, message: HistoryReady) -> None:
        self.steps = message.steps
        self._summary()
        table = self.table
        table.clear(columns=True)
        for label, key in (
            ("layer", "layer"),
            ("action", "action"),
            ("type", "type"),
            (Text("size", justify="right"), "size"),
            ("mode", "mode"),
            ("owner", "owner"),
            ("content", "digest"),
            ("how / command", "detail"),
        ):
            table.add_column(label, key=key)
        for n, step in enumerate(self.steps):
            table.add_row(
                str(step.layer),
                Text(step.action, style=self.theme_style(Kind.from_label(step.action).colour)),
                step.type or "—",
                Text(labels.size(step.size) if step.type == "file" else "—", justify="right"),
                labels.mode(step.mode, step.type),
                "—" if step.uid is None else f"{step.uid}:{step.gid}",
                untrusted.text(labels.short_digest(step.digest)),
                untrusted.text(
                    step.detail or labels.command(self.image.layers[step.layer].created_by)
                ),
                key=str(n),
            )

    def _summary(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"/{visible(self.path)}  ", "bold")
        if not self.steps:
            text.append(
                "no layer stores an entry at this path (a directory implied by what lies under it)"
            )
        else:
            layers = sorted({s.layer for s in self.steps})
            text.append(f"touched by {labels.plural(len(layers), 'layer')}: ")
            text.append(", ".join(f"{s.action} in {s.layer}" for s in self.steps))
            last = self.steps[-1]
            final = "removed" if last.action == "removed" else "visible in the final image"
            text.append(f"  ·  {final}")
        self.query_one("#history-summary", Static).update(text)

    @on(DataTable.RowHighlighted, "#history-table")
    def _entry_line(self, event: DataTable.RowHighlighted) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if event.row_key.value is not None and self.steps:
            step = self.steps[int(event.row_key.value)]
            text.append(f"layer {step.layer}: {step.action}  ", "bold")
            if step.digest:
                text.append(visible(step.digest) + "  ")
            if step.type == "file":
                text.append(labels.exact(step.size) + "  ")
            if step.detail:
                text.append(f"{step.detail}: {How.from_label(step.detail).reason}  ")
            text.append("(enter: show it in the file tree)")
        self.query_one("#history-entry", Static).update(text)

    @on(DataTable.RowSelected, "#history-table")
    def _go_to_step(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            step = self.steps[int(event.row_key.value)]
            self.dismiss(GoTo(self.path, step.layer, self.image))
