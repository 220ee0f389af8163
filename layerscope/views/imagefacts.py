"""What the file tree's views of an analysed image share, made once per analysis: each layer's
tree with its entries where the analysis places them (layertree.py) and its facts
(layerfacts.py); which layers' entries a layer removes; the directories an image view shows
with no directory entry of their own; where each layer's markers act. Before the analysis, a
layer's tree and facts (`pending_facts`) are made once per layer index.

Everything here is made on first use (the loader makes it ahead, ui/loading.py) and kept while
the analysis (or the layer index) lives; several threads may ask at once (`layertree.once`).
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from itertools import compress
from operator import not_

from layerscope.model.analysis import IMPLIED, Analysis, pack, unpack
from layerscope.read.records import F_META, OPAQUE, WHITEOUT, LayerIndex
from layerscope.views.layerfacts import FOREVER, SHOWN, LayerFacts
from layerscope.views.layertree import CancelFn, LayerTree, layer_tree, once, parent_path

_WHITEOUT = bytes([WHITEOUT])


class ImageFacts:
    """The trees and facts of the layers of one analysis, and what views of it share."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.layers = analysis.layers
        self._made: dict[object, object] = {}
        # rows placed elsewhere than their own path, per layer (markers aside: they are no nodes)
        self.places: dict[int, dict[int, str]] = defaultdict(dict)
        for ref, path in analysis.real_paths.items():
            pos, row = unpack(ref)
            if self.layers[pos].types[row] not in (WHITEOUT, OPAQUE):
                self.places[pos][row] = path

    def _once(self, key: object, make: object) -> object:
        return once((id(self), key), make, self._made)  # type: ignore[arg-type]

    def tree(self, pos: int, cancelled: CancelFn | None = None) -> LayerTree:
        """Layer `pos`'s tree, its entries where the analysis places them."""
        places = self.places.get(pos)
        if not places:
            return layer_tree(self.layers[pos], cancelled)
        found = self._once(
            ("tree", pos), lambda: LayerTree(self.layers[pos], places, cancelled=cancelled)
        )
        assert isinstance(found, LayerTree)
        return found

    def facts(self, pos: int, cancelled: CancelFn | None = None) -> LayerFacts:
        """Layer `pos`'s facts."""
        found = self._once(
            ("facts", pos),
            lambda: LayerFacts(self.tree(pos, cancelled), pos, self.analysis, cancelled=cancelled),
        )
        assert isinstance(found, LayerFacts)
        return found

    def prepare(self, cancelled: CancelFn | None = None) -> None:
        """Make every layer's tree and facts, and what views of the image share, now."""
        for pos in range(len(self.layers)):
            self.facts(pos, cancelled)
        self.implied_ranges(cancelled)
        self.emptied(cancelled)

    def removers(self, layer: int, cancelled: CancelFn | None = None) -> list[int]:
        """The layers below `layer` some of whose entries it removes."""
        if not self.analysis.removed[layer]:
            return []
        return [pos for pos in range(layer) if self.facts(pos, cancelled).removing(layer)]

    def whiteouts(self, layer: int) -> frozenset[str]:
        """Where layer `layer`'s whiteouts act (made once: a layer may hold many)."""
        found = self._once(("whiteouts", layer), lambda: self._whiteouts(layer))
        assert isinstance(found, frozenset)
        return found

    def _whiteouts(self, layer: int) -> frozenset[str]:
        li = self.layers[layer]
        real = self.analysis.real_path
        found = set()
        at = li.types.find(_WHITEOUT)
        while at >= 0:
            if not li.flags[at] & F_META:
                found.add(real(pack(layer, at)))
            at = li.types.find(_WHITEOUT, at + 1)
        return frozenset(found)

    def opaque(self, layer: int) -> frozenset[str]:
        """Where layer `layer`'s opaque markers act."""
        real = self.analysis.real_path
        rows = layer_tree(self.layers[layer]).opaque_rows
        return frozenset(real(pack(layer, row)) for row in rows)

    def implied_ranges(self, cancelled: CancelFn | None = None) -> dict[str, list[range]]:
        """The directories an image view shows with no directory entry of its own (something
        lies below them, or, in the final filesystem, nothing does), each with the layers
        whose image view shows it so."""
        found = self._once(("implied",), lambda: self._implied(cancelled))
        assert isinstance(found, dict)
        return found

    def _implied(self, cancelled: CancelFn | None) -> dict[str, list[range]]:
        count = len(self.layers)
        # Where a layer shows a directory (something at or below it stays shown from the layer
        # up to `reach`) longer than its own entry there does, the rest is a candidate: only
        # directories with no entry of their own shown for good are looked at (the others are
        # found at C speed: in an image whose layers store their directories, none).
        candidates: dict[str, list[range]] = defaultdict(list)
        for pos in range(count):
            facts = self.facts(pos, cancelled)
            tree, reach = facts.tree, facts.reach
            lasting = bytes(
                1 if c < len(facts.classes) and facts.classes[c].how == SHOWN else 0
                for c in range(256)
            )
            for d in compress(range(len(tree)), map(not_, facts.own.translate(lasting))):
                until = min(reach[d], count)
                if d and until > pos:
                    own = self._own_until(facts, d, pos, count)
                    if own < until:
                        candidates[tree.dir_paths[d]].append(range(max(own, pos), until))
        out: dict[str, list[range]] = {}
        for path, spans in candidates.items():
            explicit = []
            for pos in range(count):
                facts = self.facts(pos, cancelled)
                q = facts.tree.dir_ids.get(path)
                if q is not None:
                    explicit.append(range(pos, self._own_until(facts, q, pos, count)))
            left = _minus(spans, explicit)
            if left:
                out[path] = left
        return out

    @staticmethod
    def _own_until(facts: LayerFacts, d: int, pos: int, count: int) -> int:
        """Until which layer a directory's own entry in layer `pos` shows (`pos`: it has
        none)."""
        row = facts.tree.dir_row[d]
        if row < 0 or facts.code[row] == 255:
            return pos
        cls = facts.classes[facts.code[row]]
        return count if cls.how == SHOWN else min(cls.hidden_by, count)

    def emptied(self, cancelled: CancelFn | None = None) -> list[str]:
        """The final filesystem's implied directories nothing lies below any more (the image
        view of the last layer shows them: the union keeps them)."""
        found = self._once(("emptied",), lambda: self._emptied(cancelled))
        assert isinstance(found, list)
        return found

    def _emptied(self, cancelled: CancelFn | None) -> list[str]:
        top = len(self.layers) - 1
        implied = [path for path, ref in self.analysis.final.items() if ref == IMPLIED and path]
        for pos in range(top + 1):
            self.facts(pos, cancelled)
        return [path for path in implied if not self._shown_at(path, top)]

    def _shown_at(self, path: str, layer: int) -> bool:
        """Whether something at or below `path` stays shown in the image view of `layer`."""
        for pos in range(layer + 1):
            facts = self.facts(pos)
            d = facts.tree.dir_ids.get(path)
            if d is not None and facts.reach[d] > layer:
                return True
        return False

    def implied_at(self, layer: int) -> list[str]:
        """The directories the image view of `layer` shows with no entry of their own."""
        return [
            path
            for path, spans in self.implied_ranges().items()
            if any(layer in span for span in spans)
        ]


def _minus(spans: list[range], holes: list[range]) -> list[range]:
    """The layers of `spans` in none of `holes`, as ranges."""
    layers = sorted({n for span in spans for n in span} - {n for hole in holes for n in hole})
    out: list[range] = []
    for n in layers:
        if out and out[-1].stop == n:
            out[-1] = range(out[-1].start, n + 1)
        else:
            out.append(range(n, n + 1))
    return out


# -- one per analysis, one per layer index -----------------------------------------------------
_IMAGES: dict[int, ImageFacts] = {}  # id(analysis) -> its facts, while it lives
_PENDING: dict[int, LayerFacts] = {}  # id(index) -> its facts before the analysis


def image_facts(analysis: Analysis) -> ImageFacts:
    """The facts of an analysis (made once, kept while it lives)."""
    key = id(analysis)

    def make() -> ImageFacts:
        facts = ImageFacts(analysis)
        weakref.finalize(analysis, _IMAGES.pop, key, None)
        return facts

    found = once(key, make, _IMAGES)
    assert isinstance(found, ImageFacts)
    return found


def pending_facts(index: LayerIndex, cancelled: CancelFn | None = None) -> LayerFacts:
    """The facts of a layer read before its image is analysed (made once per index, whatever
    position it stands at: they do not depend on it)."""
    key = id(index)

    def make() -> LayerFacts:
        facts = LayerFacts(layer_tree(index, cancelled), -1, None, cancelled=cancelled)
        weakref.finalize(index, _PENDING.pop, key, None)
        return facts

    found = once(key, make, _PENDING)
    assert isinstance(found, LayerFacts)
    return found


def forget_pending(index: LayerIndex) -> None:
    """Drop a layer's facts before the analysis (once every image using it is analysed, no
    view needs them)."""
    _PENDING.pop(id(index), None)


__all__ = ["FOREVER", "ImageFacts", "forget_pending", "image_facts", "parent_path", "pending_facts"]
