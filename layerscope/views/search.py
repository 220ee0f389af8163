"""Searching a whole image, not only the view on screen: the paths of every layer holding some
text (`PathIndex.find`, the command palette's "go to path"), the view that shows a path when
the one on screen does not (`locate`), and the next layer whose changes match a filter
(`next_layer_matching`, for `n`/`N`).

A view (a layer in a mode, views/treeview.py) is the last word on what shows where: the layers'
own paths only choose which views to ask, so that a path placed elsewhere by a symlink, or shown
because a directory above it was removed, is found as the file tree would show it. No Textual.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass

from layerscope.model.image import Image
from layerscope.read.records import DIR, F_ALSO_OPAQUE, OPAQUE, WHITEOUT, LayerIndex
from layerscope.views.listing import Filter, Listing
from layerscope.views.treeview import CancelFn, Cancelled
from layerscope.views.viewcache import ViewCache

SEP = "\0"  # between two paths of a layer's text: a tar name holds no NUL
CANDIDATES = 20  # paths looked at per path returned, before the shortest are kept


@dataclass(frozen=True)
class Place:
    """A view to show: the image at `layer` in `mode` ("changes" or "image")."""

    layer: int
    mode: str


class LayerText:
    """One layer's paths, lower-cased, in one string: `str.find` runs through them at C speed,
    and a hit's row is found by bisection over where each path starts."""

    def __init__(self, index: LayerIndex) -> None:
        self.index = index
        lowered = [p.lower() for p in index.paths]
        self.starts = array("q")
        at = 1
        for p in lowered:
            self.starts.append(at)
            at += len(p) + 1
        self.text = SEP + SEP.join(lowered) + SEP

    def rows_holding(self, needle: str, limit: int) -> list[int]:
        """The first `limit` rows whose path holds `needle` (lower-case), each once."""
        rows: list[int] = []
        text, starts = self.text, self.starts
        at = text.find(needle)
        while at >= 0 and len(rows) < limit:
            row = bisect_right(starts, at) - 1
            rows.append(row)
            if row + 1 >= len(starts):
                break
            at = text.find(needle, starts[row + 1])
        return rows

    def rows_at(self, path: str) -> list[int]:
        """Rows at `path` itself (lower-case, no slashes around it)."""
        return [self._row(at) for at in _all(self.text, SEP + path + SEP)]

    def has_below(self, path: str) -> bool:
        """Whether some row lies below the directory `path` (lower-case)."""
        return (SEP + path + "/") in self.text

    def _row(self, at: int) -> int:
        return bisect_right(self.starts, at + 1) - 1


def _all(text: str, needle: str) -> list[int]:
    out = []
    at = text.find(needle)
    while at >= 0:
        out.append(at)
        at = text.find(needle, at + 1)
    return out


class PathIndex:
    """The paths of every layer of an image read so far, searchable by substring. Made on
    first use, a layer at a time, and kept: a layer's text costs about its paths' length."""

    def __init__(self, image: Image) -> None:
        self.image = image
        self._layers: dict[int, LayerText] = {}

    def layer(self, position: int) -> LayerText | None:
        """The text of the layer at `position`, None while it is not read."""
        text = self._layers.get(position)
        if text is None:
            data = self.image.layers[position].data
            if data is None:
                return None
            text = self._layers[position] = LayerText(data)
        return text

    def find(self, text: str, limit: int) -> list[str]:
        """Distinct paths of any layer holding `text` (any case), shortest first."""
        needle = text.strip().strip("/").lower()
        if not needle or SEP in needle:
            return []
        found: set[str] = set()
        for pos in range(len(self.image.layers)):
            lt = self.layer(pos)
            if lt is None:
                continue
            want = limit * CANDIDATES - len(found)
            found.update(lt.index.paths[row].strip("/") for row in lt.rows_holding(needle, want))
            if len(found) >= limit * CANDIDATES:
                break
        return sorted(found, key=lambda p: (len(p), p))[:limit]

    def touching(self, path: str) -> list[int]:
        """The layers that may show `path` in their changes: an entry at it or below it, or a
        whiteout or opaque directory at a directory above it."""
        low = path.strip("/").lower()
        above = _parents(low)
        out = []
        for pos in range(len(self.image.layers)):
            lt = self.layer(pos)
            if lt is None:
                continue
            if lt.rows_at(low) or lt.has_below(low) or any(_removes(lt, p) for p in above):
                out.append(pos)
        return out


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _removes(lt: LayerText, path: str) -> bool:
    """Whether the layer has a whiteout or an opaque marker for the directory `path`."""
    types, flags = lt.index.types, lt.index.flags
    return any(
        types[r] in (WHITEOUT, OPAQUE) or (types[r] == DIR and flags[r] & F_ALSO_OPAQUE)
        for r in lt.rows_at(path)
    )


def locate(
    views: ViewCache,
    index: PathIndex,
    path: str,
    here: Place,
    analysed: bool,
    cancelled: CancelFn | None = None,
) -> Place | None:
    """A view other than `here` that shows `path`: in the changes mode, the image as of the
    same layer; in the image mode, the image as of the top layer; then the changes of the
    layers that touch it, the nearest at or below `here` first (the one that last added,
    changed or removed it), then those above. None if no view shows it. Only changes views
    before the image is `analysed`; raises `Cancelled` once `cancelled()` says so."""
    image = index.image
    top = len(image.layers) - 1
    places: list[Place] = []
    if analysed:
        places.append(Place(here.layer if here.mode == "changes" else top, "image"))
    layers = index.touching(path)
    below = sorted((n for n in layers if n <= here.layer), reverse=True)
    places += [Place(n, "changes") for n in below + [n for n in layers if n > here.layer]]
    for place in places:
        if place == here or (not analysed and place.mode == "image"):
            continue
        if cancelled is not None and cancelled():
            raise Cancelled()
        view = views.view(image, place.layer, place.mode, analysed, cancelled=cancelled)
        if view.find(path) is not None:
            return place
    return None


def next_layer_matching(
    views: ViewCache,
    image: Image,
    flt: Filter,
    layer: int,
    step: int,
    analysed: bool,
    cancelled: CancelFn | None = None,
) -> int | None:
    """The first layer after `layer` (before it, `step` -1) whose changes hold an entry the
    filter matches; None if none does. Layers not read yet are passed over."""
    pos = layer + step
    while 0 <= pos < len(image.layers):
        if cancelled is not None and cancelled():
            raise Cancelled()
        if image.layers[pos].loaded:
            view = views.view(image, pos, "changes", analysed, cancelled=cancelled)
            if Listing(view, flt, cancelled=cancelled).matches:
                return pos
        pos += step
    return None
