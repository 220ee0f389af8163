"""The main screen: the summary strip on top (widgets/summary.py), layers, layer details and image
details on the left, the file tree on the right, the status line at the bottom (the row under
the cursor in full, widgets/status.py); searches across the whole image are in finder.py.

It owns the work: a loader thread reads the layers (the image on screen first, ui/loading.py)
and a tree thread builds the rows of the file tree (ui/treebuild.py, the views kept in a
`ViewCache`, views/viewcache.py), so the screen answers keys while both run.

What it shows follows from a few reactive attributes — `image`, `layer_index`, `mode`, `sort`,
`filter` — whose watchers redraw what depends on them (the layers pane, the details, the file
tree); several set together (`batch_changes()`) redraw once. The insight views (waste, history,
preview, sharing, compare) are opened from here and dismissed with where to go next (`GoTo`,
`ShowImage`), which `follow` carries out: they know nothing of this screen.

Names, paths, link targets and error messages come from the image: they reach the screen only as
`rich.text.Text` built from `layerscope.text.visible` (`untrusted.text`), in notifications only
through `untrusted.notify` (no markup), so none is parsed as markup or reaches the terminal raw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import var
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Header, Input, Label, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from layerscope.insight.findings import Findings
from layerscope.model.analysis import unpack
from layerscope.model.archive import Archive
from layerscope.model.image import Image
from layerscope.text import visible
from layerscope.ui import loading, untrusted
from layerscope.ui.loading import DONE, FAILED, READING, LayerLoad
from layerscope.ui.screens.finder import Finder
from layerscope.ui.screens.insight import GoTo, ShowImage, notify_failure
from layerscope.ui.treebuild import TreeReady, TreeRequest, build_rows
from layerscope.ui.widgets.details import ImageDetails, LayerDetails
from layerscope.ui.widgets.file_tree import FileTree
from layerscope.ui.widgets.keybar import KeyBar
from layerscope.ui.widgets.layers import LayerList
from layerscope.ui.widgets.legend import legend
from layerscope.ui.widgets.status import entry_status, layer_status
from layerscope.ui.widgets.summary import Jump, SummaryStrip
from layerscope.views import headline, labels
from layerscope.views.listing import FILTER_KINDS, Filter
from layerscope.views.treeview import Cancelled, Node
from layerscope.views.viewcache import ViewCache

SEARCH_DELAY = 0.2  # seconds of quiet typing before a big view is searched
BIG_VIEW = 50_000  # nodes from which a search waits for the typing to pause
MANY_IMAGES = ("next_image", "sharing", "compare")  # actions that need several images
FIRST_FOCUS = ("layers", "filter", "tree")  # what Tab goes through first, in this order


class MainScreen(Screen[None]):
    """Browse one image at a time (`i` shows the next one)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "toggle_mode", "Changes/Image", id="main.mode"),
        Binding("slash", "filter", "Filter", id="main.filter"),
        Binding("s", "toggle_sort", "Sort", show=False, id="main.sort"),
        Binding("a", "toggle_attributes", "Attributes", show=False, id="main.attributes"),
        Binding("e", "expand_all", "Expand all", show=False, id="main.expand_all"),
        Binding("c", "collapse_all", "Collapse all", show=False, id="main.collapse_all"),
        Binding(
            "left_square_bracket",
            "step_layer(-1)",
            "Previous layer",
            show=False,
            id="main.prev_layer",
        ),
        Binding(
            "right_square_bracket", "step_layer(1)", "Next layer", show=False, id="main.next_layer"
        ),
        Binding("i", "next_image", "Next image", show=False, id="main.next_image"),
        Binding("w", "waste", "Waste", id="main.waste"),
        Binding("f", "findings", "Findings", id="main.findings"),
        Binding("p", "preview", "Preview", show=False, id="main.preview"),
        Binding("x", "export", "Export", id="main.export"),
        Binding("H", "history", "History", id="main.history"),
        Binding("I", "sharing", "Images", id="main.sharing"),
        Binding("C", "compare", "Compare", id="main.compare"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="main.clear_filter"),
        Binding("n", "next_match(1)", "Next match", show=False, id="main.next_match"),
        Binding("N", "next_match(-1)", "Previous match", show=False, id="main.previous_match"),
        Binding("b", "top_waste", "Next top waste", show=False, id="main.top_waste"),
        *(
            Binding(
                str(n),
                f"toggle_kind('{kind}')",
                f"Hide/show {kind}",
                show=False,
                id=f"main.kind_{kind}",
            )
            for n, kind in enumerate(FILTER_KINDS, 1)
        ),
    ]

    # What the screen shows; setting one redraws what depends on it (the watchers below).
    image: var[Image] = var(cast(Image, None), init=False)  # set before the screen is mounted
    layer_index: var[int] = var(0, init=False)
    mode: var[str] = var("changes", init=False)  # "changes" of the layer, or the "image" as of it
    sort: var[str] = var("size", init=False)
    # (set again to the same value, the tree is built again: esc in the filter box does)
    filter: var[Filter] = var(Filter, init=False, always_update=True)

    def __init__(self, archive: Archive, image: Image | None = None) -> None:
        super().__init__()
        self.archive = archive
        self.set_reactive(MainScreen.image, image or archive.images[0])
        self.loads: dict[object, LayerLoad] = {  # by blob: positions sharing one share its read
            layer.spec.location: LayerLoad(
                layer.stored_size, state=DONE if layer.loaded else loading.WAITING
            )
            for img in archive.images
            for layer in img.layers
        }
        self.analysed: set[int] = set()  # image numbers whose figures are computed
        self.found: dict[int, Findings] = {}  # image number -> its findings, once made
        self.loading_done = False
        self.views = ViewCache(on_built=loading.keep)
        self._serial = 0
        self._search_timer: Timer | None = None
        self._reveal: str | None = None  # a path to put the cursor on once the tree is built
        self._when_loaded: list[Callable[[], object]] = []
        self._stale: set[str] = set()  # what to redraw: "image", "analysis", "layer", "tree"
        self.finder = Finder(self)
        self._batch = 0  # `batch_changes()` blocks open: the redraw waits for the last to end

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(icon="◧")
        yield SummaryStrip(id="summary")
        with Horizontal(id="loading"):
            yield Label("Reading layers…", id="loading-label")
            yield ProgressBar(id="loading-bar", show_eta=False)
        with Horizontal(id="main"):
            with Vertical(id="left"):
                with Vertical(id="layers-pane", classes="pane"):
                    yield Static(id="layers-header")
                    yield LayerList(id="layers")
                with VerticalScroll(id="layer-details-pane", classes="pane"):
                    yield LayerDetails(id="layer-details")
                with VerticalScroll(id="image-details-pane", classes="pane"):
                    yield ImageDetails(id="image-details")
            with Vertical(id="tree-pane", classes="pane"):
                yield Input(
                    placeholder="filter: text, or a glob like *.so or bin/*  (enter: done, esc: clear)",
                    id="filter",
                )
                yield Static(id="legend")
                yield FileTree(id="tree")
        yield Static(id="entry")  # the status line: the row under the cursor, in full
        yield KeyBar()

    @property
    def focus_chain(self) -> list[Widget]:
        """Tab goes Layers -> Tree (the filter box between, when open) first, then the details
        panes, leaving out a pane that is off screen or too small to show a line."""
        chain = super().focus_chain
        first = [w for w in chain if w.id in FIRST_FOCUS]
        shown = [w for w in chain if w not in first and _on_screen(w)]
        return first + shown

    @property
    def file_tree(self) -> FileTree:
        """The file tree widget."""
        return self.query_one("#tree", FileTree)

    @property
    def layer_list(self) -> LayerList:
        """The layers pane's list."""
        return self.query_one("#layers", LayerList)

    def on_mount(self) -> None:
        self.query_one("#layers-pane").border_title = "Layers"
        self.query_one("#layer-details-pane").border_title = "Layer"
        self.query_one("#image-details-pane").border_title = "Image"
        self.query_one("#loading-bar", ProgressBar).update(
            total=max(sum(ld.total for ld in self._unread()), 1), progress=0
        )
        if not self._unread():
            self.query_one("#loading").display = False
        self._changed("image")  # the first drawing of everything
        self.layer_list.focus()
        # Reads what is not read yet and analyses every image; once the layers are on screen,
        # so the first paint does not share the interpreter with the reader.
        self.call_after_refresh(self.read_layers, self.image)

    def _unread(self) -> list[LayerLoad]:
        seen = {}
        for img in self.archive.images:
            for layer in img.layers:
                if not layer.loaded:
                    seen[layer.spec.location] = self.loads[layer.spec.location]
        return list(seen.values())

    # -- what is shown follows the state -------------------------------------------------------
    def watch_image(self) -> None:
        self._changed("image")

    def watch_layer_index(self) -> None:
        self._changed("layer")

    def watch_mode(self) -> None:
        self._changed("tree")

    def watch_sort(self) -> None:
        self._changed("tree")

    def watch_filter(self) -> None:
        self._changed("tree")

    @contextmanager
    def batch_changes(self) -> Iterator[None]:
        """Several changes to the state, redrawn once at the end."""
        self._batch += 1
        try:
            yield
        finally:
            self._batch -= 1
        self._changed()

    def _changed(self, *parts: str) -> None:
        """Redraw `parts` ("image": everything; "analysis": what the figures of the image on
        screen change; "layer": the layer's selection and details; "tree": the file tree):
        now, or at the end of the `batch_changes()` block under way."""
        self._stale.update(parts)
        if self._batch or not self._stale:
            return
        stale, self._stale = self._stale, set()
        if "image" in stale:
            count = len(self.archive.images)
            self.title = "layerscope"
            self.sub_title = visible(self.image.name) + (
                f"  ·  image {self.image.number + 1} of {count}" if count > 1 else ""
            )
            self.layer_list.show(
                self.image, self.loads, self.is_analysed(self.image), self.layer_index
            )
        elif "analysis" in stale:
            self.layer_list.refresh_layers(analysed=True)
        if "image" in stale or "analysis" in stale:
            self.query_one("#layers-header", Static).update(self.layer_list.header())
            self._show_image_details()
            self._show_summary()
        if "layer" in stale and self.image.layers:
            self.layer_list.select_layer(self.layer_index)
        if "image" in stale or "analysis" in stale or "layer" in stale:
            self._show_layer_details()
            self._show_status()
        self.refresh_tree()
        if "image" in stale:
            self.refresh_bindings()

    # -- showing an image ------------------------------------------------------------------------
    def show_image(self, image: Image) -> None:
        """Browse `image`, from its first layer."""
        with self.batch_changes():
            self.layer_index = 0
            self.image = image

    def is_analysed(self, image: Image) -> bool:
        """Whether every layer of `image` is read and its figures are computed."""
        return image.number in self.analysed

    def _failed_layers(self, image: Image) -> list[int]:
        return [
            layer.position
            for layer in image.layers
            if self.loads[layer.spec.location].state == FAILED
        ]

    def _show_image_details(self) -> None:
        self.query_one("#image-details", ImageDetails).show(
            self.image,
            self.is_analysed(self.image),
            self._failed_layers(self.image),
            len(self.archive.images),
        )

    def _show_summary(self) -> None:
        """The summary strip: the headline figures, and the top wastes, of the image on screen
        (while its layers are read: how many are, the rest pending)."""
        image = self.image
        analysed = self.is_analysed(image)
        failed = bool(self._failed_layers(image))
        note = ""
        if not analysed and not failed:
            read = sum(1 for layer in image.layers if layer.loaded)
            note = f"(reading layers: {read} of {len(image.layers)} read)"
        secrets, found = headline.findings_figures(self.found.get(image.number), analysed, failed)
        self.query_one(SummaryStrip).show(
            secrets + headline.headline(image, analysed, failed),
            headline.top_wastes(image) if analysed else [],
            note,
            found,
        )

    def _show_status(self) -> None:
        """The status line: the row under the cursor of the Layers pane when it has the focus,
        else of the file tree."""
        status = self.query_one("#entry", Static)
        if self.layer_list.has_focus and self.image.layers:
            layer = self.image.layers[self.layer_index]
            text = layer_status(
                layer, self.loads.get(layer.spec.location), self.is_analysed(self.image)
            )
        else:
            text = entry_status(self.file_tree.node, status.size.width or self.size.width)
        status.update(text, layout=False)

    def _show_layer_details(self) -> None:
        if not self.image.layers:
            return
        layer = self.image.layers[self.layer_index]
        self.query_one("#layer-details", LayerDetails).show(
            layer,
            self.loads.get(layer.spec.location),
            self.is_analysed(self.image),
            self.archive.images,
        )
        self.query_one("#layer-details-pane").border_title = f"Layer {layer.position}"

    # -- the file tree ---------------------------------------------------------------------------
    def refresh_tree(self) -> None:
        """Show the file tree for the current image, layer, mode, filter and sort: at once if it
        cannot be built yet (a message says why), else from the tree thread."""
        self._update_tree_title()
        tree = self.file_tree
        if not self.image.layers:
            tree.show_message("This image has no layers.")
            return
        layer = self.image.layers[self.layer_index]
        load = self.loads[layer.spec.location]
        analysed = self.is_analysed(self.image)
        if load.state == FAILED:
            tree.show_message(f"Layer {self.layer_index} could not be read: {load.error}")
            return
        if not layer.loaded:
            what = (
                f"reading, {labels.percent(load.fraction)}" if load.state == READING else "waiting"
            )
            tree.show_message(f"Layer {self.layer_index} is not read yet ({what})…")
            return
        if self.mode == "image" and not analysed:
            failed = self._failed_layers(self.image)
            if failed:
                tree.show_message(
                    "The image view needs every layer; layer "
                    + ", ".join(map(str, failed))
                    + " could not be read. Press m for this layer's changes."
                )
            else:
                tree.show_message("The image view needs every layer: reading them…")
            return
        self._serial += 1
        searching = bool(self.filter.pattern)
        tree.searching = searching
        self.build_tree(
            TreeRequest(
                serial=self._serial,
                image=self.image,
                layer=self.layer_index,
                mode=self.mode,
                analysed=analysed,
                filter=self.filter,
                sort=self.sort,
                everything=True if searching else tree.everything,
                paths=frozenset() if searching else frozenset(tree.paths),
                cursor_path=tree.cursor_path,
                generation=tree.generation,
            )
        )

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="views",
        description="Preparing the views of the image",
    )
    def prepare_views(self, image: Image, layer: int, mode: str) -> None:
        """Build ahead the views of an analysed image not kept yet, the nearest layers first,
        while they fit in the room kept for views: switching to them is then instant."""
        worker = get_current_worker()
        self.views.prepare(image, layer, mode, cancelled=lambda: worker.is_cancelled)

    def _prepare_views(self) -> None:
        """Start preparing the views of the image on screen, once every layer is read (unless
        that is under way)."""
        if not (self.loading_done and self.is_analysed(self.image) and self.image.layers):
            return
        if not any(w.group == "views" and not w.is_finished for w in self.workers):
            self.prepare_views(self.image, self.layer_index, self.mode)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="tree",
        description="Building the file tree",
    )
    def build_tree(self, req: TreeRequest) -> None:
        """Build the rows of the tree a request asks for (in the tree thread), and post them."""
        worker = get_current_worker()
        try:
            ready = build_rows(self.views, req, lambda: worker.is_cancelled)
        except Cancelled:
            return
        if not worker.is_cancelled:
            self.post_message(ready)

    def on_tree_ready(self, message: TreeReady) -> None:
        if message.request.serial != self._serial:
            return  # a newer request is on its way
        if message.request.generation != self.file_tree.generation:
            self.refresh_tree()  # directories were opened or closed meanwhile: build again
            return
        self.file_tree.show_outline(message.outline, message.cursor, message.everything)
        self._update_legend()
        self._prepare_views()
        if self._reveal is not None:
            path, self._reveal = self._reveal, None
            if self.file_tree.go_to(path):
                self.file_tree.focus()
            else:
                untrusted.notify(self, f"/{path} is not in this view", severity="warning")
        self.finder.tree_ready()

    def _update_tree_title(self) -> None:
        pane = self.query_one("#tree-pane")
        if self.mode == "changes":
            pane.border_title = f"Changes in layer {self.layer_index}"
        else:
            pane.border_title = f"Image as of layer {self.layer_index}"
        parts = [f"sort: {self.sort}"]
        if self.filter.pattern:
            parts.append(f"filter: {self.filter.search.strip()}")
        if self.filter.active:  # directory sizes count only what it shows (Listing.size)
            parts.append("sizes: of what is shown")
        pane.border_subtitle = untrusted.text("  ·  ".join(parts))  # typed text: not markup

    def _update_legend(self) -> None:
        box = self.query_one("#legend", Static)
        tree = self.file_tree
        line = legend(tree.outline, box.size.width or tree.size.width, tree.component_style)
        box.update(line, layout=False)

    @on(FileTree.Highlighted)
    def _entry_info(self, event: FileTree.Highlighted) -> None:
        if not self.layer_list.has_focus:
            self._show_status()

    def on_descendant_focus(self) -> None:
        self._show_status()

    def on_resize(self) -> None:
        # once the panes have their new sizes
        self.call_after_refresh(self._fit_to_width)

    def _fit_to_width(self) -> None:
        self._update_legend()
        self._show_status()

    @on(LayerList.LayoutChanged)
    def _layers_layout(self) -> None:
        self.query_one("#layers-header", Static).update(self.layer_list.header())

    # -- loading ---------------------------------------------------------------------------------
    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="load",
        description="Reading layers",
    )
    def read_layers(self, first: Image) -> None:
        """Read every layer not read yet, `first`'s first (in the loader thread)."""
        worker = get_current_worker()
        loading.read_layers(self.archive, first, self.post_message, lambda: worker.is_cancelled)

    def _overall(self, done: int, total: int) -> None:
        bar = self.query_one("#loading-bar", ProgressBar)
        bar.update(total=max(total, 1), progress=done)
        reading = sum(1 for ld in self._unread() if ld.state != DONE)
        self.query_one("#loading-label", Label).update(
            f"Reading layers: {labels.size(done)} of {labels.size(total)}"
            f" · {labels.plural(reading, 'layer')} to go "
        )

    def on_layer_progress(self, message: loading.LayerProgress) -> None:
        loc = message.layer.spec.location
        load = self.loads[loc]
        if load.state in (DONE, FAILED):
            return
        load.state = READING
        load.advance(message.done)
        self.layer_list.refresh_layer(loc)
        self._overall(message.overall_done, message.overall_total)
        if self._is_current(loc):
            self._show_layer_details()
            if not self.file_tree.outline:
                self.refresh_tree()

    def on_layer_loaded(self, message: loading.LayerLoaded) -> None:
        loc = message.layer.spec.location
        load = self.loads[loc]
        load.state = DONE
        load.done = load.total
        self.layer_list.layer_read(loc)
        self._overall(message.overall_done, message.overall_total)
        if any(layer.spec.location == loc for layer in self.image.layers):
            self._show_summary()  # one more layer read
        if self._is_current(loc):
            self._show_layer_details()
            self._show_status()
            self.refresh_tree()

    def on_layer_failed(self, message: loading.LayerFailed) -> None:
        loc = message.layer.spec.location
        load = self.loads[loc]
        load.state = FAILED
        load.error = message.error
        self.layer_list.refresh_layer(loc)
        untrusted.notify(
            self,
            message.error,
            title=f"Layer {message.layer.position} of {message.layer.image.name} could not be read",
            severity="error",
            timeout=12,
        )
        if any(layer.spec.location == loc for layer in self.image.layers):
            self._show_image_details()
            self._show_summary()
            if self._is_current(loc) or self.mode == "image":
                self.refresh_tree()
            self._show_layer_details()

    def on_findings_made(self, message: loading.FindingsMade) -> None:
        self.found[message.image.number] = message.found
        if message.image is self.image:
            self._show_summary()

    def on_image_analysed(self, message: loading.ImageAnalysed) -> None:
        self.analysed.add(message.image.number)
        if message.image is self.image:
            self._changed("analysis")

    def on_loading_finished(self, message: loading.LoadingFinished) -> None:
        self.loading_done = True
        self.query_one("#loading").display = False
        callbacks, self._when_loaded = self._when_loaded, []
        for callback in callbacks:
            callback()
        self._prepare_views()
        if message.failed:
            self.notify(
                f"{labels.plural(message.failed, 'layer')} could not be read; the rest is shown.",
                severity="warning",
            )

    def _is_current(self, location: object) -> bool:
        return (
            bool(self.image.layers)
            and self.image.layers[self.layer_index].spec.location == location
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a worker's failure becomes something the user sees."""
        if event.state != WorkerState.ERROR:
            return
        worker = event.worker
        notify_failure(self, worker)
        if worker.group == "tree":
            self.file_tree.show_message(f"The file tree could not be built: {worker.error}")
        elif worker.group == "load":
            self.query_one("#loading-label", Label).update("Reading stopped (see the error). ")

    # -- layer selection -------------------------------------------------------------------------
    @on(LayerList.Selected)
    def _layer_selected(self, event: LayerList.Selected) -> None:
        if event.position != self.layer_list.position:
            return  # stale: the highlight moved on since it was posted
        self.layer_index = event.position

    def select_layer(self, position: int) -> None:
        """Select the layer at `position` of the image on screen (clamped to its layers)."""
        if not self.image.layers:
            return
        position = min(max(position, 0), len(self.image.layers) - 1)
        self.layer_list.select_layer(position)
        self.layer_index = position

    # -- actions ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return bool(self.filter.pattern) or self.query_one("#filter", Input).has_focus
        return True

    def action_toggle_mode(self) -> None:
        self.mode = "image" if self.mode == "changes" else "changes"

    def action_toggle_sort(self) -> None:
        self.sort = "name" if self.sort == "size" else "size"

    def action_toggle_attributes(self) -> None:
        self.file_tree.show_attributes = not self.file_tree.show_attributes

    def action_expand_all(self) -> None:
        self.file_tree.expand_all()
        self.refresh_tree()  # the tree thread opens every directory

    def action_collapse_all(self) -> None:
        self.file_tree.collapse_all()

    def action_step_layer(self, step: int) -> None:
        self.select_layer(self.layer_index + step)

    def key_shown(self, action: str) -> bool:
        """Whether the key line offers `action` (the views of several images need them; their
        keys still answer, saying so)."""
        return action not in MANY_IMAGES or len(self.archive.images) > 1

    def _one_image(self, what: str) -> bool:
        """With one image, say that `what` needs several, and how to get them; True if so."""
        if len(self.archive.images) > 1:
            return False
        self.notify(
            f"{what} needs several images, and this archive holds one: open two archives"
            " (layerscope a.tar b.tar) or one saved with several images (podman save -m).",
            title="One image",
            severity="warning",
        )
        return True

    def action_next_image(self) -> None:
        if self._one_image("Next image"):
            return
        images = self.archive.images
        self.switch_image(images[(self.image.number + 1) % len(images)])

    def switch_image(self, image: Image) -> None:
        """Browse another image of the archive (its layers read first, if they are not yet)."""
        if image is self.image:
            return
        self.show_image(image)
        if not image.loaded and not self.loading_done:
            self.read_layers(image)  # restart with this image first (read layers are kept)

    def action_toggle_kind(self, kind: str) -> None:
        self.filter = self.filter.toggled(kind)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-open")
        box.focus()

    def action_clear_filter(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
        box = self.query_one("#filter", Input)
        if box.value:
            box.value = ""  # Input.Changed finds the filter cleared already
        box.remove_class("-open")
        self.filter = self.filter.searching("")  # kinds hidden with 1-7 stay hidden
        self.file_tree.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if event.value.strip() == self.filter.search.strip():
            return
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
        view = self.file_tree.view
        if view is not None and len(view) >= BIG_VIEW:
            # Searching half a million paths takes a while: wait for the typing to pause.
            self.set_reactive(MainScreen.filter, self.filter.searching(event.value))
            self._update_tree_title()
            self._search_timer = self.set_timer(SEARCH_DELAY, self._search_now)
        else:
            self.filter = self.filter.searching(event.value)

    def _search_now(self) -> None:
        self._search_timer = None
        self.refresh_tree()  # the filter typed meanwhile (set without redrawing)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_now()  # enter: no need to wait for a pause
        if not event.value.strip():
            event.input.remove_class("-open")
        self.file_tree.focus()

    # -- the insight views -------------------------------------------------------------------------
    def reveal(
        self, path: str, layer: int, *, image: Image | None = None, mode: str = "changes"
    ) -> None:
        """Show `path` in the tree: the image, layer and mode given, the filter cleared if it
        would hide it; the cursor lands on it once the tree is built."""
        if image is not None and image is not self.image:
            self.switch_image(image)
        if not self.image.layers:
            return
        with self.batch_changes():
            self.mode = mode
            if self.filter.active:
                box = self.query_one("#filter", Input)
                with box.prevent(Input.Changed):
                    box.value = ""
                box.remove_class("-open")
                self.filter = Filter()
                self.notify("The filter was cleared to show the entry.")
            self.layer_index = min(max(layer, 0), len(self.image.layers) - 1)
            self._reveal = path.strip("/")
            self.file_tree.cursor_path = self._reveal
            self._changed("layer", "tree")  # even if nothing else changed: the cursor moves

    def follow(self, result: GoTo | ShowImage | None) -> None:
        """Go where a dismissed insight view asked: a path in the tree, or an image (at a
        layer); None stays."""
        if isinstance(result, GoTo):
            self.reveal(result.path, result.layer, image=result.image, mode=result.mode)
        elif isinstance(result, ShowImage):
            self.switch_image(result.image)
            if result.layer is not None:
                self.select_layer(result.layer)

    def when_loaded(self, callback: Callable[[], object]) -> None:
        """Call `callback` once every layer is read (at once if they are)."""
        if self.loading_done:
            callback()
        else:
            self._when_loaded.append(callback)

    def _ready(self, what: str, image: Image | None = None, everything: bool = False) -> bool:
        """Whether the layers a view needs are read; if not, say so."""
        image = image or self.image
        if everything and not self.loading_done:
            self.notify(f"{what} needs every layer of every image: still reading them…")
            return False
        if self.is_analysed(image):
            return True
        if self._failed_layers(image):
            untrusted.notify(
                self,
                f"{what} needs every layer of {image.name}; some could not be read.",
                severity="warning",
            )
        else:
            untrusted.notify(self, f"{what} needs every layer of {image.name}: still reading them…")
        return False

    def _entry(self, what: str) -> Node | None:
        node = self.file_tree.node
        if node is None:
            self.notify(f"{what}: put the cursor on an entry of the file tree first.")
        return node

    def action_waste(self) -> None:
        from layerscope.ui.screens.waste import WasteScreen

        if self._ready("The waste view"):
            self.app.push_screen(WasteScreen(self.image), self.follow)

    def action_findings(self) -> None:
        from layerscope.ui.screens.findings import FindingsScreen

        if self._ready("The findings view"):
            self.app.push_screen(FindingsScreen(self.image), self.follow)

    def action_history(self) -> None:
        from layerscope.ui.screens.history import HistoryScreen

        node = self._entry("Path history")
        if node is not None and self._ready("Path history"):
            self.app.push_screen(HistoryScreen(self.image, node.path), self.follow)

    def action_sharing(self) -> None:
        from layerscope.ui.screens.sharing import SharingScreen

        if not self._one_image("The images view (I)") and self._ready(
            "The images view", everything=True
        ):
            self.app.push_screen(SharingScreen(self.archive.images, self.image), self.follow)

    def action_compare(self) -> None:
        if not self._one_image("Compare (C)") and self._ready("Compare", everything=True):
            images = self.archive.images
            other = next((img for img in images if img is not self.image), self.image)
            first, second = sorted((self.image, other), key=lambda img: img.number)
            self.open_compare(first, second)

    def open_compare(self, a: Image, b: Image) -> None:
        """Open the compare view of `a` and `b` (it compares once every layer is read)."""
        from layerscope.ui.screens.compare import CompareScreen

        screen = CompareScreen(self.archive.images, a, b, loaded=self.loading_done)
        self.app.push_screen(screen, self.follow)
        if not self.loading_done:
            self.when_loaded(screen.layers_read)

    def action_preview(self) -> None:
        from layerscope.ui.screens.preview import PreviewScreen

        node = self._entry("Preview")
        if node is None:
            return
        if node.type not in ("file", "hardlink", "symlink"):
            untrusted.notify(
                self, f"/{node.path} is a {node.type}: preview shows files (x exports it)."
            )
            return
        view = self.file_tree.view
        assert view is not None
        ref = view.refs[node.id]
        if ref < 0:
            untrusted.notify(self, f"/{node.path} has no entry of its own to show.")
            return
        if node.type == "hardlink" and not self._ready("Preview of a hardlink"):
            return
        layer, row = unpack(ref)
        self.app.push_screen(PreviewScreen(self.image, layer, row, node, as_of=self.layer_index))

    @on(FileTree.Opened)
    def _open_entry(self, event: FileTree.Opened) -> None:
        self.action_preview()

    def action_export(self) -> None:
        from layerscope.ui.dialogs.export import ExportDialog

        node = self._entry("Export")
        if node is not None and self._ready("Export"):
            ref = self.file_tree.view.refs[node.id] if self.file_tree.view else None
            dialog = ExportDialog(self.image, node.path, self.layer_index, entry=ref)
            self.app.push_screen(dialog)

    # -- finding things in the whole image (ui/screens/finder.py) --------------------------------
    def go_to_path(self, path: str) -> None:
        """Put the tree's cursor on a path (from the command palette), switching to a view
        that shows it if this one does not."""
        self.finder.go_to_path(path)

    def find_paths(self, text: str, limit: int) -> list[str]:
        """Paths of any layer holding `text` (any case), shortest first (for the command
        palette)."""
        return self.finder.find_paths(text, limit)

    def action_next_match(self, step: int) -> None:
        self.finder.next_match(step)

    def action_top_waste(self) -> None:
        self.finder.top_waste()

    @on(Jump)
    def _jump_to_waste(self, event: Jump) -> None:
        self.finder.top_waste(event.index)


def _on_screen(widget: Widget) -> bool:
    """Whether a pane shows at least a line of its content on screen."""
    visible = widget.region.intersection(widget.screen.region)
    gutter = widget.styles.gutter.height
    return visible.height > gutter and widget.scrollable_content_region.height > 0
