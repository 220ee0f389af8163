"""An image's figures and analysis, kept in the cache (cache.py) so re-opening an image computes
nothing again.

The key is made of the keys of the image's layers, in order (each names a layer's content: its
diff_id, digest and size, see `cache.layer_key`), the symlink-hop limit, the only other input of
the analysis, and layerscope's version: the same layers always give the same figures. Each entry
carries that key's text, checked when it is read, so an entry copied onto another image's name is
refused. Two kinds of entry:

- `fig`: what the report and the panes show (each layer's size and changes, the final size and
  files, the duplicates, the hidden entries, dive's figures): a few kilobytes to megabytes, enough
  for `--json --no-files` and `--ci` without the analysis;
- `ana`: the analysis itself (statuses, hiding, the final filesystem as refs), for the UI.
"""

from __future__ import annotations

import marshal
from array import array
from collections.abc import Sequence
from dataclasses import astuple
from typing import TYPE_CHECKING

from layerscope.model.cache import FORMAT, LayerCache, entry_name
from layerscope.model.dive_compat import DiveFigures, InefficientPath
from layerscope.model.filesystem import IMPLIED, Analysis
from layerscope.read.records import LayerIndex
from layerscope.version import __version__

if TYPE_CHECKING:
    from layerscope.model.image import Image

FIGURES = ("dive", "_final_summary", "hidden")  # an Image's cached properties kept here
LAYER_FIGURES = ("size", "changes")  # a Layer's


def image_key(layer_keys: Sequence[str], max_symlink_hops: int) -> str:
    """The key of an image's entries: its layers' keys (by their names), the symlink-hop limit,
    and the version of layerscope (a new version may compute a figure otherwise). The entries
    carry this text, checked on read (cache.py): an entry copied onto another image's name is
    refused."""
    names = ",".join(entry_name(k) for k in layer_keys)
    return f"{FORMAT}|{__version__}|{max_symlink_hops}|{names}"


class ImageMemo:
    """The cache entries of one image."""

    def __init__(self, cache: LayerCache, key: str) -> None:
        self.cache = cache
        self.key = key
        self.figures_stored = False
        self.analysis_stored = False

    # -- figures ------------------------------------------------------------------------------
    def recall(self, image: Image) -> bool:
        """Give `image` (and its layers) the figures stored for it, if any."""
        payload = self.cache.read(self.key, "fig")
        if payload is None:
            return False
        try:
            values = _figures_from(marshal.loads(payload), image)
        except Exception:  # from another version, or damaged in a way the CRC missed
            self.cache.forget(self.key, "fig")
            return False
        for owner, name, value in values:
            owner.__dict__.setdefault(name, value)
        self.figures_stored = True
        return True

    def remember(self, image: Image) -> None:
        """Store the image's figures, when all of them were computed and none came from here."""
        if self.figures_stored or not _all_computed(image):
            return
        self.cache.write(self.key, "fig", marshal.dumps(_figures_of(image)))
        self.figures_stored = True

    # -- analysis -----------------------------------------------------------------------------
    def analysis(self, layers: Sequence[LayerIndex]) -> Analysis | None:
        payload = self.cache.read(self.key, "ana")
        if payload is None:
            return None
        try:
            a = _analysis_from(marshal.loads(payload), layers)
        except Exception:
            self.cache.forget(self.key, "ana")
            return None
        self.analysis_stored = True
        return a

    def remember_analysis(self, a: Analysis) -> None:
        if not self.analysis_stored:
            self.cache.write(self.key, "ana", marshal.dumps(_analysis_of(a)))
            self.analysis_stored = True


def _all_computed(image: Image) -> bool:
    return all(name in image.__dict__ for name in FIGURES) and all(
        name in layer.__dict__ for layer in image.layers for name in LAYER_FIGURES
    )


def _figures_of(image: Image) -> tuple:
    d = image.__dict__
    layers = [(ly.size, astuple(ly.changes)) for ly in image.layers]
    hidden = [astuple(h) for h in d["hidden"]]
    return layers, d["_final_summary"], hidden, astuple(d["dive"])


def _figures_from(payload: tuple, image: Image) -> list[tuple[object, str, object]]:
    from layerscope.model.image import Changes, Hidden

    layers, final, hidden, dive = payload
    if len(layers) != len(image.layers):
        raise ValueError("another image")
    out: list[tuple[object, str, object]] = []
    for layer, (size, changes) in zip(image.layers, layers, strict=True):
        out.append((layer, "size", size))
        out.append((layer, "changes", Changes(*changes)))
    total, files, dups = final
    out.append((image, "_final_summary", (total, files, [tuple(d) for d in dups])))
    out.append((image, "hidden", [Hidden(*h) for h in hidden]))
    *head, inefficient, aborted = dive
    figures = DiveFigures(
        *head, inefficient=tuple(InefficientPath(*p) for p in inefficient), aborted_layers=aborted
    )
    out.append((image, "dive", figures))
    return out


def _analysis_of(a: Analysis) -> tuple:
    refs = array("q", a.final.values())
    implied = [path for path, ref in a.final.items() if ref == IMPLIED]
    return (
        [bytes(s) for s in a.status],
        [h.tobytes() for h in a.hidden_by],
        [bytes(h) for h in a.how],
        a.removed,
        refs.tobytes(),
        implied,
        a.real_paths,
        a.hardlink_targets,
        a.kept,
        a.below,
    )


def _analysis_from(payload: tuple, layers: Sequence[LayerIndex]) -> Analysis:
    status, hidden_by, how, removed, refs, implied, real_paths, targets, kept, below = payload
    if len(status) != len(layers) or any(
        len(s) != len(li) for s, li in zip(status, layers, strict=True)
    ):
        raise ValueError("another image")
    hidden = []
    for raw in hidden_by:
        col = array("i")
        col.frombytes(raw)
        hidden.append(col)
    a = Analysis(
        layers=layers,
        status=[bytearray(s) for s in status],
        hidden_by=hidden,
        how=[bytearray(h) for h in how],
        removed=removed,
        final={},
        real_paths=real_paths,
        hardlink_targets=targets,
        kept=kept,
        below=below,
    )
    final_refs = array("q")
    final_refs.frombytes(refs)
    a.final = _final(a, final_refs, implied)
    return a


def _final(a: Analysis, refs: array, implied: list[str]) -> dict[str, int]:
    """The final filesystem again, in its order, its paths the index's own strings."""
    final: dict[str, int] = {}
    more = iter(implied)
    real_paths, layers = a.real_paths, a.layers
    for ref in refs:
        if ref == IMPLIED:
            final[next(more)] = IMPLIED
            continue
        path = real_paths.get(ref)
        if path is None:
            path = layers[ref >> 32].paths[ref & 0xFFFFFFFF]
        final[path] = ref
    return final
