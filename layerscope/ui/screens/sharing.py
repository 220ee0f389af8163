"""Images and sharing: the images open, what each weighs alone and shares; a matrix of the
distinct layers by images; and the same file content in different layers (as after a rebuild of
a common base), which sharing by layer cannot see.

Every figure here counts file content, as a layer's size does (the README's sharing figures):
the **distinct bytes** are the sizes of the distinct layers, not the bytes their blobs take in
the archive (the Image pane's "Stored"). Images are numbered from 1, as everywhere a person
reads them; layers keep their positions from 0.

Image names, platforms, commands, digests and paths come from the archive: every such cell is a
`rich.text.Text` shown visibly (`ui.untrusted`), never a `str` the table would parse as markup."""

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

from layerscope.insight.sharing import SharedContent, SharedLayer, Sharing, sharing
from layerscope.model.image import Image, Layer
from layerscope.ui import untrusted
from layerscope.ui.screens.insight import GoTo, InsightScreen, ShowImage, failure, shown_number
from layerscope.ui.widgets.keybar import KeyBar
from layerscope.views import labels

MAX_CONTENT_ROWS = 500  # shared contents listed (the largest); the summary counts them all


class SharingReady(Message):
    def __init__(self, found: Sharing) -> None:
        super().__init__()
        self.found = found


class SharingScreen(InsightScreen[GoTo | ShowImage | None]):
    """Which images share what, by layer and by file content (dismissed with the image, layer
    or file to go to, or None). `current` is the image on the main screen: a layer it holds is
    shown there."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("I", "back", "Back", show=False, id="sharing.back"),
    ]

    def __init__(self, images: list[Image], current: Image) -> None:
        super().__init__()
        self.images = images
        self.current = current
        self.found: Sharing | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="◧")
        yield Static(id="sharing-summary", classes="summary")
        with Vertical(id="sharing-images-pane", classes="pane"):
            yield DataTable(id="sharing-images", cursor_type="row")
        with Vertical(id="sharing-layers-pane", classes="pane"):
            yield DataTable(id="sharing-layers", cursor_type="row")
        with Vertical(id="sharing-contents-pane", classes="pane"):
            yield DataTable(id="sharing-contents", cursor_type="row")
        yield KeyBar()

    def on_mount(self) -> None:
        self.title = "layerscope"
        self.sub_title = f"{labels.plural(len(self.images), 'image')}  ·  images and sharing"
        self.query_one("#sharing-images-pane").border_title = "Images (enter: browse it)"
        self.query_one(
            "#sharing-layers-pane"
        ).border_title = "Distinct layers × images (enter: go to the layer)"
        self.query_one(
            "#sharing-contents-pane"
        ).border_title = "File-shared content (enter: go to the file)"
        self.query_one("#sharing-summary", Static).update("Comparing the images' layers…")
        self.query_one("#sharing-images", DataTable).focus()
        self.compute()

    @work(thread=True, exclusive=True, exit_on_error=False, group="sharing",
          description="Finding what the images share")  # fmt: skip
    def compute(self) -> None:
        found = sharing(self.images)
        if not get_current_worker().is_cancelled:
            self.post_message(SharingReady(found))

    def show_failure(self, error: BaseException) -> None:
        self.query_one("#sharing-summary", Static).update(
            Text(failure("Sharing could not be worked out", error))
        )

    def on_sharing_ready(self, message: SharingReady) -> None:
        self.found = found = message.found
        self._summary(found)
        self._images(found)
        self._layers(found)
        self._contents(found)

    # -- the three tables --------------------------------------------------------------------
    def _summary(self, found: Sharing) -> None:
        """The sharing figures, each with the README's name and what it counts (file content,
        as layer sizes count it: not the blobs' stored bytes)."""
        layers = labels.plural(len(found.layers), "distinct layer")
        contents = labels.plural(len(found.contents), "content")
        text = Text()
        figures = [
            ("distinct bytes", found.stored_bytes, f"file content of {layers}"),
            ("unshared bytes", found.unshared_bytes, ""),
            ("sharing saves", found.saved_bytes, ""),
            ("shared bytes", found.shared_bytes, ""),
            ("file-shared bytes", found.file_shared_bytes, contents),
        ]
        for n, (name, value, what) in enumerate(figures):
            text.append(("  ·  " if n else "") + f"{name} ")
            text.append(labels.size(value), "bold")
            if what:
                text.append(f" ({what})")
        self.query_one("#sharing-summary", Static).update(text)

    def _images(self, found: Sharing) -> None:
        table = self.query_one("#sharing-images", DataTable)
        table.clear(columns=True)
        table.add_column("#", key="n")
        table.add_column("image", key="image")
        table.add_column(Text("layers", justify="right"), key="layers")
        table.add_column(Text("size", justify="right"), key="size")
        table.add_column(Text("unique", justify="right"), key="unique")
        table.add_column(Text("shared", justify="right"), key="shared")
        table.add_column("platform", key="platform")
        for n, (img, unique) in enumerate(zip(self.images, found.unique_bytes, strict=True)):
            shared = found.image_shared_bytes(n)
            table.add_row(
                str(shown_number(img)),
                untrusted.text(img.name),
                Text(str(len(img.layers)), justify="right"),
                Text(labels.size(img.size), justify="right"),
                Text(labels.size(unique), justify="right"),
                Text(labels.size(shared), justify="right"),
                untrusted.text(img.platform),
                key=str(n),
            )

    def _layers(self, found: Sharing) -> None:
        table = self.query_one("#sharing-layers", DataTable)
        table.clear(columns=True)
        table.add_column("layer", key="diff_id")
        table.add_column(Text("size", justify="right"), key="size")
        for img in self.images:
            table.add_column(f"image {shown_number(img)}", key=f"image-{img.number}")
        table.add_column("command", key="command")
        accent = self.theme_style("accent")
        for n, s in enumerate(found.layers):
            cells: list[str | Text] = []
            for img in self.images:
                positions = [lyr.position for lyr in img.layers if lyr.diff_id == s.diff_id]
                if positions:
                    mark = "● " + ",".join(f"#{p}" for p in positions)
                    cells.append(Text(mark, style=f"bold {accent}" if len(s.images) > 1 else ""))
                else:
                    cells.append(Text("·", style="dim"))
            first = self._layer(s)
            table.add_row(
                untrusted.text(labels.short_digest(s.diff_id)),
                Text(labels.size(s.size), justify="right"),
                *cells,
                untrusted.text(labels.command(first.created_by) if first else ""),
                key=str(n),
            )

    def _contents(self, found: Sharing) -> None:
        table = self.query_one("#sharing-contents", DataTable)
        table.clear(columns=True)
        table.add_column("content", key="digest")
        table.add_column(Text("size", justify="right"), key="size")
        table.add_column(Text("file-shared", justify="right"), key="extra")
        table.add_column("images", key="images")
        table.add_column("paths", key="paths")
        shown = found.contents[:MAX_CONTENT_ROWS]
        table.add_rows(
            (
                untrusted.text(labels.short_digest(c.digest)),
                Text(labels.size(c.size), justify="right"),
                Text(labels.size(c.extra_bytes), justify="right"),
                ", ".join(str(shown_number(self.images[i])) for i in c.images),
                untrusted.text(", ".join("/" + p for p in c.paths)),
            )
            for c in shown
        )
        pane = self.query_one("#sharing-contents-pane")
        if len(found.contents) > len(shown):
            pane.border_subtitle = f"the largest {len(shown):,} of {len(found.contents):,}"
        elif not found.contents:
            pane.border_subtitle = "none"

    def _layer(self, s: SharedLayer) -> Layer | None:
        """The first position of a distinct layer, in image order."""
        for img in self.images:
            for lyr in img.layers:
                if lyr.diff_id == s.diff_id:
                    return lyr
        return None

    # -- jumps -------------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#sharing-images")
    def _browse_image(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.dismiss(ShowImage(self.images[int(event.row_key.value)]))

    @on(DataTable.RowSelected, "#sharing-layers")
    def _go_to_layer(self, event: DataTable.RowSelected) -> None:
        if self.found is None or event.row_key.value is None:
            return
        s = self.found.layers[int(event.row_key.value)]
        lyr = next(
            (lyr for lyr in self.current.layers if lyr.diff_id == s.diff_id), None
        ) or self._layer(s)
        if lyr is not None:
            self.dismiss(ShowImage(lyr.image, lyr.position))

    @on(DataTable.RowSelected, "#sharing-contents")
    def _go_to_content(self, event: DataTable.RowSelected) -> None:
        if self.found is None:
            return
        content: SharedContent = self.found.contents[event.cursor_row]
        diff_id, path = content.layers[0], content.paths[0]
        for img in self.images:
            for lyr in img.layers:
                if lyr.diff_id == diff_id:
                    self.dismiss(GoTo(path, lyr.position, img))
                    return
