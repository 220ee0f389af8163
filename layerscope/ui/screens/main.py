"""The main screen: layers, layer details and image details on the left, the file tree on the right.

It owns the work: a loader thread reads the layers (the image on screen first) and a tree thread
builds each view of the file tree, so the screen answers keys while both run.

Names, paths, link targets and error messages come from the image: they reach the screen only as
`rich.text.Text` built from `layerscope.text.visible` (`untrusted.text`), in notifications only
through `untrusted.notify` (no markup), so none is parsed as markup or reaches the terminal raw.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Header, Input, Label, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from layerscope.model.archive import Archive
from layerscope.model.filesystem import SHIFT
from layerscope.model.image import Image
from layerscope.text import visible
from layerscope.ui import loading, untrusted
from layerscope.ui.loading import DONE, FAILED, READING, LayerLoad
from layerscope.ui.screens.insight import notify_failure
from layerscope.ui.widgets.details import ImageDetails, LayerDetails
from layerscope.ui.widgets.file_tree import FileTree
from layerscope.ui.widgets.keybar import KeyBar
from layerscope.ui.widgets.layers import LayerList
from layerscope.views import labels
from layerscope.views.tree import (
    AUTO_EXPAND_NODES,
    FILTER_KINDS,
    MODES,
    Cancelled,
    Filter,
    Listing,
    Node,
    Outline,
    TreeView,
    build_view,
    expanded_nodes,
)

VIEW_NODES = 2_000_000  # nodes of the views kept in all (the latest view is always kept)
SEARCH_DELAY = 0.2  # seconds of quiet typing before a big view is searched
BIG_VIEW = 50_000  # nodes from which a search waits for the typing to pause


@dataclass(frozen=True)
class TreeRequest:
    """Everything a tree build depends on."""

    serial: int
    image: Image
    layer: int
    mode: str
    analysed: bool
    filter: Filter
    sort: str
    everything: bool | None
    paths: frozenset[str] = field(default_factory=frozenset)
    cursor_path: str = ""
    generation: int = 0  # the tree's open/close count when asked


class TreeReady(Message):
    """A tree build finished: the rows to show, and where the cursor goes."""

    def __init__(self, request: TreeRequest, outline: Outline, cursor: int, everything: bool):
        super().__init__()
        self.request = request
        self.outline = outline
        self.cursor = cursor
        self.everything = everything


class MainScreen(Screen):
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
        Binding("p", "preview", "Preview", show=False, id="main.preview"),
        Binding("x", "export", "Export", id="main.export"),
        Binding("H", "history", "History", id="main.history"),
        Binding("I", "sharing", "Images", id="main.sharing"),
        Binding("C", "compare", "Compare", id="main.compare"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="main.clear_filter"),
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

    def __init__(self, archive: Archive, image: Image | None = None) -> None:
        super().__init__()
        self.archive = archive
        self.image = image or archive.images[0]
        self.layer_index = 0
        self.mode = "changes"
        self.sort = "size"
        self.filter = Filter()
        self.loads: dict[object, LayerLoad] = {  # by blob: positions sharing one share its read
            layer.spec.location: LayerLoad(
                layer.stored_size, state=DONE if layer.loaded else loading.WAITING
            )
            for img in archive.images
            for layer in img.layers
        }
        self.analysed: set[int] = set()  # image numbers whose figures are computed
        self.loading_done = False
        self._serial = 0
        self._views: OrderedDict[tuple, TreeView] = OrderedDict()
        self._view_nodes = 0  # nodes of the views kept
        self._views_lock = threading.Lock()
        self._search_timer: Timer | None = None
        self._reveal: str | None = None  # a path to put the cursor on once the tree is built
        self._when_loaded: list[Callable[[], object]] = []

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(icon="◧")
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
                yield Static(id="entry")
        yield KeyBar()

    @property
    def file_tree(self) -> FileTree:
        return self.query_one("#tree", FileTree)

    @property
    def layer_list(self) -> LayerList:
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
        self.show_image(self.image)
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

    # -- showing an image ------------------------------------------------------------------------
    def show_image(self, image: Image, layer: int = 0) -> None:
        self.image = image
        self.layer_index = min(layer, max(len(image.layers) - 1, 0))
        count = len(self.archive.images)
        self.title = "layerscope"
        self.sub_title = visible(image.name) + (
            f"  ·  image {image.number + 1} of {count}" if count > 1 else ""
        )
        self.layer_list.show(image, self.loads, self.is_analysed(image), self.layer_index)
        self.query_one("#layers-header", Static).update(self.layer_list.header())
        self._show_image_details()
        self._show_layer_details()
        self.refresh_tree()
        self.refresh_bindings()

    def is_analysed(self, image: Image) -> bool:
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

    def _cached_view(self, key: tuple) -> TreeView | None:
        with self._views_lock:
            view = self._views.get(key)
            if view is not None:
                self._views.move_to_end(key)
            return view

    def _build_view(self, key: tuple, image: Image, worker: Worker) -> TreeView:
        """Build a view (in a thread) and keep it, the least recently used ones making room."""
        _, layer, mode, analysed = key
        view = build_view(
            image, layer, mode, analysed=analysed, cancelled=lambda: worker.is_cancelled
        )
        view.owner_width()  # scans every uid and gid once, here rather than on screen
        loading.keep()
        with self._views_lock:
            old = self._views.pop(key, None)
            self._view_nodes += len(view) - (len(old) if old is not None else 0)
            self._views[key] = view
            while self._view_nodes > VIEW_NODES and len(self._views) > 1:
                _, dropped = self._views.popitem(last=False)
                self._view_nodes -= len(dropped)
        return view

    def _view(self, req: TreeRequest) -> TreeView:
        key = _view_key(req.image, req.layer, req.mode, req.analysed)
        view = self._cached_view(key)
        if view is None:
            view = self._build_view(key, req.image, get_current_worker())
        return view

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
        for key, nodes in _preparation_order(image, layer, mode):
            with self._views_lock:
                if key in self._views:
                    continue
                if self._view_nodes + nodes > VIEW_NODES:
                    return
            try:
                self._build_view(key, image, worker)
            except Cancelled:
                return

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
        worker = get_current_worker()
        try:
            view = self._view(req)
            listing = Listing(view, req.filter, cancelled=lambda: worker.is_cancelled)
            everything = req.everything
            if everything is None:
                everything = len(view) <= AUTO_EXPAND_NODES
            expanded = expanded_nodes(
                view, req.paths, everything=everything, except_paths=req.paths
            )
            outline = Outline(listing, req.sort, expanded, cancelled=lambda: worker.is_cancelled)
            cursor = 0
            if req.cursor_path:
                node = view.find(req.cursor_path)
                path = req.cursor_path
                while node is None and "/" in path:
                    path = path.rsplit("/", 1)[0]
                    node = view.find(path)
                if node is not None:
                    index = outline.index_of(node)
                    while index is None and node > 0:
                        node = view.parents[node]
                        index = outline.index_of(node) if node > 0 else None
                    cursor = index or 0
        except Cancelled:
            return
        if not worker.is_cancelled:
            self.post_message(TreeReady(req, outline, cursor, everything))

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

    def _update_tree_title(self) -> None:
        pane = self.query_one("#tree-pane")
        if self.mode == "changes":
            pane.border_title = f"Changes in layer {self.layer_index}"
        else:
            pane.border_title = f"Image as of layer {self.layer_index}"
        parts = [f"sort: {self.sort}"]
        if self.filter.pattern:
            parts.append(f"filter: {self.filter.search.strip()}")
        pane.border_subtitle = untrusted.text("  ·  ".join(parts))  # typed text: not markup

    def _update_legend(self) -> None:
        self.query_one("#legend", Static).update(self.file_tree.legend(), layout=False)

    @on(FileTree.Highlighted)
    def _entry_info(self, event: FileTree.Highlighted) -> None:
        self.query_one("#entry", Static).update(_entry_text(event.node), layout=False)

    # -- loading ---------------------------------------------------------------------------------
    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="load",
        description="Reading layers",
    )
    def read_layers(self, first: Image) -> None:
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
        load.done = message.done
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
        if self._is_current(loc):
            self._show_layer_details()
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
            if self._is_current(loc) or self.mode == "image":
                self.refresh_tree()
            self._show_layer_details()

    def on_image_analysed(self, message: loading.ImageAnalysed) -> None:
        self.analysed.add(message.image.number)
        if message.image is self.image:
            self.layer_list.refresh_layers(analysed=True)
            self.query_one("#layers-header", Static).update(self.layer_list.header())
            self._show_image_details()
            self._show_layer_details()
            self.refresh_tree()

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
        if event.position == self.layer_index:
            return
        self.layer_index = event.position
        self._show_layer_details()
        self.refresh_tree()

    def select_layer(self, position: int) -> None:
        if not self.image.layers:
            return
        position = min(max(position, 0), len(self.image.layers) - 1)
        self.layer_list.select_layer(position)
        if position != self.layer_index:
            self.layer_index = position
            self._show_layer_details()
            self.refresh_tree()

    # -- actions ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next_image", "sharing", "compare"):
            return len(self.archive.images) > 1
        if action == "clear_filter":
            return bool(self.filter.pattern) or self.query_one("#filter", Input).has_focus
        return True

    def action_toggle_mode(self) -> None:
        self.mode = "image" if self.mode == "changes" else "changes"
        self.refresh_tree()

    def action_toggle_sort(self) -> None:
        self.sort = "name" if self.sort == "size" else "size"
        self.refresh_tree()

    def action_toggle_attributes(self) -> None:
        self.file_tree.show_attributes = not self.file_tree.show_attributes

    def action_expand_all(self) -> None:
        self.file_tree.expand_all()
        self.refresh_tree()

    def action_collapse_all(self) -> None:
        self.file_tree.collapse_all()

    def action_step_layer(self, step: int) -> None:
        self.select_layer(self.layer_index + step)

    def action_next_image(self) -> None:
        images = self.archive.images
        self.switch_image(images[(self.image.number + 1) % len(images)])

    def switch_image(self, image: Image) -> None:
        if image is self.image:
            return
        self.show_image(image)
        if not image.loaded and not self.loading_done:
            self.read_layers(image)  # restart with this image first (read layers are kept)

    def action_toggle_kind(self, kind: str) -> None:
        self.filter = self.filter.toggled(kind)
        self.refresh_tree()

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
            box.value = ""  # Input.Changed refreshes the tree
        box.remove_class("-open")
        self.filter = self.filter.searching("")  # kinds hidden with 1-7 stay hidden
        self.refresh_tree()
        self.file_tree.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if event.value.strip() == self.filter.search.strip():
            return
        self.filter = self.filter.searching(event.value)
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
        view = self.file_tree.view
        if view is not None and len(view) >= BIG_VIEW:
            # Searching half a million paths takes a while: wait for the typing to pause.
            self._update_tree_title()
            self._search_timer = self.set_timer(SEARCH_DELAY, self._search_now)
        else:
            self.refresh_tree()

    def _search_now(self) -> None:
        self._search_timer = None
        self.refresh_tree()

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
        self.mode = mode
        if self.filter.active:
            box = self.query_one("#filter", Input)
            with box.prevent(Input.Changed):
                box.value = ""
            box.remove_class("-open")
            self.filter = Filter()
            self.notify("The filter was cleared to show the entry.")
        self.layer_index = min(max(layer, 0), len(self.image.layers) - 1)
        self.layer_list.select_layer(self.layer_index)
        self._show_layer_details()
        self._reveal = path.strip("/")
        self.file_tree.cursor_path = self._reveal
        self.refresh_tree()

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
            self.app.push_screen(WasteScreen(self, self.image))

    def action_history(self) -> None:
        from layerscope.ui.screens.history import HistoryScreen

        node = self._entry("Path history")
        if node is not None and self._ready("Path history"):
            self.app.push_screen(HistoryScreen(self, self.image, node.path))

    def action_sharing(self) -> None:
        from layerscope.ui.screens.sharing import SharingScreen

        if self._ready("The images view", everything=True):
            self.app.push_screen(SharingScreen(self, self.archive.images))

    def action_compare(self) -> None:
        from layerscope.ui.screens.compare import CompareScreen

        if self._ready("Compare", everything=True):
            images = self.archive.images
            other = next((img for img in images if img is not self.image), self.image)
            first, second = sorted((self.image, other), key=lambda img: img.number)
            self.app.push_screen(CompareScreen(self, images, first, second))

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
        layer, row = ref >> SHIFT, ref & ((1 << SHIFT) - 1)
        self.app.push_screen(
            PreviewScreen(self, self.image, layer, row, node, as_of=self.layer_index)
        )

    @on(FileTree.Opened)
    def _open_entry(self, event: FileTree.Opened) -> None:
        self.action_preview()

    def action_export(self) -> None:
        from layerscope.ui.dialogs.export import ExportDialog

        node = self._entry("Export")
        if node is not None and self._ready("Export"):
            self.app.push_screen(ExportDialog(self.image, node.path, self.layer_index))

    def go_to_path(self, path: str) -> None:
        """Put the tree's cursor on a path (from the command palette)."""
        if self.file_tree.go_to(path):
            self.file_tree.focus()
            return
        hint = " (press m for the image view)" if self.mode == "changes" else ""
        untrusted.notify(self, f"/{path} is not in this view{hint}", severity="warning")

    def find_paths(self, text: str, limit: int) -> list[str]:
        """Paths of the view on screen holding `text` (any case), shortest first (for the
        command palette)."""
        view = self.file_tree.view
        needle = text.strip().strip("/").lower()
        if view is None or not needle:
            return []
        found = []
        for i, low in enumerate(view.lower_paths()):
            if i and needle in low:
                found.append(view.paths[i])
                if len(found) >= limit * 20:
                    break
        found = sorted(set(found), key=lambda p: (len(p), p))
        return found[:limit]


def _view_key(image: Image, layer: int, mode: str, analysed: bool) -> tuple:
    return (image.number, layer, mode, analysed)


def _preparation_order(image: Image, layer: int, mode: str) -> list[tuple[tuple, int]]:
    """The views of an analysed image, nearest to `layer` and in `mode` first, each with the
    nodes it may hold (entries of the layer; of the layers up to it for the image mode)."""
    sizes = [len(lyr.data) if lyr.data is not None else 0 for lyr in image.layers]
    below = list(accumulate(sizes))
    order = sorted(
        ((pos, m) for pos in range(len(sizes)) for m in MODES),
        key=lambda pm: (abs(pm[0] - layer), pm[1] != mode, pm[0]),
    )
    return [
        (_view_key(image, pos, m, True), sizes[pos] if m == "changes" else below[pos])
        for pos, m in order
    ]


def _entry_text(node: Node | None) -> Text:
    """The line under the tree: the entry at the cursor, in full (its path and link target
    shown visibly)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if node is None:
        return text
    text.append("/" + visible(node.path), "bold")
    if node.link:
        text.append((" → " if node.type == "symlink" else " ⇒ /") + visible(node.link))
    text.append(f"  {node.type} {labels.size(node.size)}")
    if node.mode is not None:
        text.append(f"  {node.mode_text} {node.uid}:{node.gid}")
    if node.kind == "removed":
        text.append(f"  removed by layer {node.hidden_by}")
        if node.how:
            text.append(f" ({visible(node.how)})")
        return text
    if node.layer is not None:
        if node.status == "unchanged":
            text.append(f"  from layer {node.layer}")
        else:
            text.append(f"  {node.status} in layer {node.layer}")
    if node.kind == "hidden":
        text.append(f", hidden by layer {node.hidden_by} ({visible(node.how or '')})")
    return text
