"""Where the dead bytes are: every hidden entry and every duplicated content, with the layer that
stored the bytes, the layer that made them dead, and why."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from layerscope.model.analysis import VISIBLE, pack, unpack
from layerscope.model.image import Image
from layerscope.model.kinds import How, Kind
from layerscope.read.records import FILE

DUPLICATE = "duplicate"  # the reason of an extra copy of a content still visible
# Each reason's words: how the entry was hidden, an overwrite told apart by how the entry that
# hid it compares with it, or a duplicate.
REASONS = {
    **{how.label: how.reason for how in How},
    Kind.REWRITTEN.label: "rewritten identically",
    Kind.METADATA.label: "metadata-only copy-up",
    DUPLICATE: "duplicate content",
}


@dataclass(frozen=True)
class WasteItem:
    """Bytes stored for nothing: a hidden entry, or an extra copy of a visible content."""

    path: str
    size: int
    layer: int  # the layer that stored the bytes
    made_dead_by: int | None  # the layer that hid them (None for a duplicate still visible)
    reason: str  # a key of REASONS
    row: int  # the row in `layer`, to jump to the entry
    duplicate_of: str | None = None

    @property
    def reason_text(self) -> str:
        """The reason in words."""
        return REASONS[self.reason]


@dataclass
class LayerWaste:
    """One layer's dead bytes: those it stored, those it made dead."""

    stored: int = 0  # dead bytes this layer stored
    caused: int = 0  # bytes of lower layers (or its own) this layer made dead


@dataclass
class Waste:
    """Every waste item of an image, and the dead bytes per layer."""

    items: list[WasteItem]  # largest first
    per_layer: list[LayerWaste]

    @property
    def hidden_bytes(self) -> int:
        """Bytes of the hidden entries listed."""
        return sum(i.size for i in self.items if i.reason != DUPLICATE)

    @property
    def duplicate_bytes(self) -> int:
        """Bytes of the extra copies listed."""
        return sum(i.size for i in self.items if i.reason == DUPLICATE)

    def groups(self) -> dict[tuple[int, int | None], list[WasteItem]]:
        """Items grouped by (layer that stored, layer that made dead), largest group first."""
        out: dict[tuple[int, int | None], list[WasteItem]] = defaultdict(list)
        for item in self.items:
            out[(item.layer, item.made_dead_by)].append(item)
        return dict(sorted(out.items(), key=lambda kv: -sum(i.size for i in kv[1])))


def waste(image: Image, *, include_empty: bool = False) -> Waste:
    """Hidden regular files (and, with include_empty, every hidden entry) and duplicated final
    content. A file whose only change above is its metadata, or that was stored again unchanged,
    is told apart from a real overwrite by how the entry that hid it compares with it."""
    a = image.analysis
    replaced_by = {old: new for new, old in a.below.items()}
    hows = {how.value: how for how in How}
    items: list[WasteItem] = []
    per_layer = [LayerWaste() for _ in image.layers]
    for h_pos, layer in enumerate(image.layers):
        li = layer.index
        hb = a.hidden_by[h_pos]
        for row in range(len(li)):
            by = hb[row]
            if by == VISIBLE:
                continue
            ref = pack(h_pos, row)
            if ref in a.kept:
                continue  # a visible hardlink still shows these bytes
            size = li.sizes[row] if li.types[row] == FILE else 0
            if size == 0 and not include_empty:
                continue
            how = hows[a.how[h_pos][row]]
            reason = how.label
            if how == How.OVERWRITTEN:
                new = replaced_by.get(ref)
                if new is not None:
                    npos, nrow = unpack(new)
                    status = a.status[npos][nrow]
                    if status in (Kind.REWRITTEN, Kind.METADATA):
                        reason = Kind(status).label
            items.append(WasteItem(li.paths[row], size, h_pos, by, reason, row))
            per_layer[h_pos].stored += size
            per_layer[by].caused += size
    for _digest, size, paths in image.duplicates:
        first = paths[0]
        for p in paths[1:]:
            pos, row = unpack(a.final[p])
            items.append(WasteItem(p, size, pos, None, DUPLICATE, row, duplicate_of=first))
    items.sort(key=lambda i: (-i.size, i.layer, i.path))
    return Waste(items, per_layer)
