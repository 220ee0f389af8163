"""Finding things in the whole image from the main screen, not only in the tree on screen:

- "go to path" (the command palette): any path of any layer; if the view on screen does not
  show it, the view that does (views/search.py: `locate`) is switched to, and the user is told
  what changed;
- `n`/`N`: the next or previous entry matching the filter (`/`), in the tree on screen, then
  in the changes of the layers after (before) it, switching layer; "no more matches" at the
  ends;
- `b` and a click in the summary strip: the top wastes, in turn.

The work that may take a while (building other views) runs in a thread worker of the screen;
its answer is dropped if the user moved on meanwhile. Paths come from the image: they reach the
user only through `untrusted.notify`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from textual.app import App
from textual.worker import get_current_worker

from layerscope.model.image import Image
from layerscope.model.kinds import Kind
from layerscope.ui import untrusted
from layerscope.ui.widgets.file_tree import FileTree
from layerscope.views import headline, labels
from layerscope.views.listing import Filter
from layerscope.views.search import PathIndex, Place, locate, next_layer_matching
from layerscope.views.treeview import Cancelled
from layerscope.views.viewcache import ViewCache

T = TypeVar("T")


class Host(Protocol):
    """What the finder uses of the main screen (which it cannot import: the screen imports
    it)."""

    image: Image
    layer_index: int
    mode: str
    filter: Filter
    views: ViewCache
    app: App[Any]

    @property
    def file_tree(self) -> FileTree: ...

    def is_analysed(self, image: Image) -> bool: ...

    def reveal(
        self, path: str, layer: int, *, image: Image | None = ..., mode: str = ...
    ) -> None: ...

    def batch_changes(self) -> AbstractContextManager[None]: ...

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None: ...

    def run_worker(self, work: Callable[[], None], *args: Any, **kwargs: Any) -> object: ...


def describe(place: Place) -> str:
    """A view in words: `layer 3's changes`, `the image as of layer 3`."""
    if place.mode == "changes":
        return f"layer {place.layer}'s changes"
    return f"the image as of layer {place.layer}"


class Finder:
    """The main screen's searches across the image (the screen owns one)."""

    def __init__(self, screen: Host) -> None:
        self.screen = screen
        self._indexes: dict[int, PathIndex] = {}  # by image number
        self._land: int | None = None  # once the tree is built: 1 first match, -1 last one
        self._waste_turn = 0  # the top waste `b` goes to next

    def index(self, image: Image) -> PathIndex:
        """The paths of `image`, made searchable on first use."""
        found = self._indexes.get(image.number)
        if found is None:
            found = self._indexes[image.number] = PathIndex(image)
        return found

    def _here(self) -> Place:
        return Place(self.screen.layer_index, self.screen.mode)

    # -- go to path ------------------------------------------------------------------------------
    def find_paths(self, text: str, limit: int) -> list[str]:
        """Paths of any layer of the image on screen holding `text` (any case), shortest first
        (for the command palette)."""
        return self.index(self.screen.image).find(text, limit)

    def go_to_path(self, path: str) -> None:
        """Put the tree's cursor on `path`: in the tree on screen if it shows it (the filter
        cleared if it hides it), else in another view that shows it."""
        screen = self.screen
        path = path.strip("/")
        tree = screen.file_tree
        if tree.go_to(path):
            tree.focus()
            return
        view = tree.view
        if view is not None and view.find(path) is not None:  # the filter hides it
            screen.reveal(path, screen.layer_index, mode=screen.mode)
            return
        if not screen.image.layers:
            return
        image, here, analysed = screen.image, self._here(), screen.is_analysed(screen.image)
        views, index = screen.views, self.index  # (the index is made in the thread)
        self._search(
            "Looking for the path in the image",
            lambda cancelled: locate(views, index(image), path, here, analysed, cancelled),
            lambda place: self._located(image, path, here, place),
        )

    def _search(
        self, what: str, find: Callable[[Callable[[], bool]], T], then: Callable[[T], None]
    ) -> None:
        """`find(cancelled)` in a thread (a newer search cancels it), then `then(found)` on the
        UI thread unless cancelled meanwhile."""

        def run() -> None:
            worker = get_current_worker()
            try:
                found = find(lambda: worker.is_cancelled)
            except Cancelled:
                return
            if not worker.is_cancelled:
                self.screen.app.call_from_thread(then, found)

        self.screen.run_worker(
            run, thread=True, exclusive=True, exit_on_error=False, group="search", description=what
        )

    def _located(self, image: Image, path: str, here: Place, place: Place | None) -> None:
        screen = self.screen
        if image is not screen.image or here != self._here():
            return  # the user went elsewhere meanwhile
        if place is None:
            unread = not screen.is_analysed(image)
            why = " (some layers are not read yet)" if unread else ""
            untrusted.notify(
                screen.app, f"/{path} is in no view of this image{why}", severity="warning"
            )
            return
        untrusted.notify(
            screen.app, f"/{path} is not in {describe(here)}: showing {describe(place)}."
        )
        screen.reveal(path, place.layer, mode=place.mode)

    # -- n / N -----------------------------------------------------------------------------------
    def next_match(self, step: int) -> None:
        """Go to the next (`step` 1) or previous (-1) entry the filter matches: in the tree
        on screen, else in the nearest layer's changes that hold one."""
        screen = self.screen
        flt = screen.filter
        if not flt.pattern:
            screen.notify(
                "n and N go to the next and previous match of a filter: type one with / first."
            )
            return
        if self._move_to_match(step, screen.file_tree.cursor + step):
            return
        image, layer, analysed = screen.image, screen.layer_index, screen.is_analysed(screen.image)
        views = screen.views
        self._search(
            "Looking for the next match",
            lambda cancelled: next_layer_matching(
                views, image, flt, layer, step, analysed, cancelled
            ),
            lambda found: self._layer_found(image, layer, step, found),
        )

    def _matching_row(self, start: int, step: int) -> int | None:
        """The first row from `start` on (backwards for step -1) whose entry the filter
        matches itself (not one of the directories kept to show where a match lies)."""
        tree = self.screen.file_tree
        outline = tree.outline
        if outline is None or not len(outline):
            return None
        view = outline.view
        flt = outline.listing.filter
        test = flt.path_matcher()
        low = view.lower_paths()
        hidden = {int(Kind.from_label(k)) for k in flt.hide}
        kinds = view.kinds
        index = start
        while 0 <= index < len(outline):
            node = outline.node_at(index)
            if kinds[node] not in hidden and test(low[node]):
                return index
            index += step
        return None

    def _move_to_match(self, step: int, start: int) -> bool:
        row = self._matching_row(start, step)
        if row is None:
            return False
        tree = self.screen.file_tree
        tree.move_cursor(row)
        tree.focus()
        return True

    def _layer_found(self, image: Image, layer: int, step: int, found: int | None) -> None:
        screen = self.screen
        if image is not screen.image or layer != screen.layer_index:
            return
        if found is None:
            where = "after" if step > 0 else "before"
            screen.notify(f"No more matches {where} this one.", severity="warning")
            return
        switched = " (its changes)" if screen.mode != "changes" else ""
        screen.notify(f"{'Next' if step > 0 else 'Previous'} match: layer {found}{switched}.")
        self._land = step
        with screen.batch_changes():
            screen.mode = "changes"
            screen.layer_index = found

    def tree_ready(self) -> None:
        """The tree was built: land on its first (last) match if `n` (`N`) switched layer."""
        step, self._land = self._land, None
        if step is not None:
            outline = self.screen.file_tree.outline
            start = 0 if step > 0 else (len(outline) - 1 if outline is not None else 0)
            self._move_to_match(step, start)

    # -- top wastes ------------------------------------------------------------------------------
    def top_waste(self, index: int | None = None) -> None:
        """Go to top waste number `index` (from 0), or to the next one in turn: the entry in
        the changes of the layer that stored it, marked hidden."""
        screen = self.screen
        image = screen.image
        if not screen.is_analysed(image):
            screen.notify("The top wastes are known once every layer is read.")
            return
        wastes = headline.top_wastes(image)
        if not wastes:
            screen.notify("Nothing is reclaimable in this image: no waste to go to.")
            return
        if index is None:
            index = self._waste_turn % len(wastes)
        index %= len(wastes)
        self._waste_turn = index + 1
        h = wastes[index]
        untrusted.notify(
            screen.app,
            f"Top waste {index + 1} of {len(wastes)}: /{h.path.strip('/')}, "
            f"{labels.size(h.size)} stored by layer {h.layer}, hidden by layer {h.hidden_by}"
            f" ({h.how}).",
        )
        screen.reveal(h.path.strip("/"), h.layer)
