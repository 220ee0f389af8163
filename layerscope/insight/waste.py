"""Where the dead bytes are: every hidden entry and every duplicated content, with the layer that
stored the bytes, the layer that made them dead, and why."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from layerscope.model.filesystem import METADATA, REWRITTEN, pack, unpack
from layerscope.model.image import Image

REASONS = {
    "overwritten": "overwritten",
    "rewritten": "rewritten identically",
    "metadata": "metadata-only copy-up",
    "whiteout": "deleted",
    "parent-whiteout": "deleted with its directory",
    "opaque": "cleared by an opaque directory",
    "type-change": "replaced by another type",
    "parent-replaced": "its directory was replaced",
    "duplicate": "duplicate content",
}


@dataclass(frozen=True)
class WasteItem:
    path: str
    size: int
    layer: int  # the layer that stored the bytes
    made_dead_by: int | None  # the layer that hid them (None for a duplicate still visible)
    reason: str  # a key of REASONS
    row: int  # the row in `layer`, to jump to the entry
    duplicate_of: str | None = None

    @property
    def reason_text(self) -> str:
        return REASONS[self.reason]


@dataclass
class LayerWaste:
    stored: int = 0  # dead bytes this layer stored
    caused: int = 0  # bytes of lower layers (or its own) this layer made dead


@dataclass
class Waste:
    items: list[WasteItem]  # largest first
    per_layer: list[LayerWaste]

    @property
    def hidden_bytes(self) -> int:
        return sum(i.size for i in self.items if i.reason != "duplicate")

    @property
    def duplicate_bytes(self) -> int:
        return sum(i.size for i in self.items if i.reason == "duplicate")

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
    items: list[WasteItem] = []
    per_layer = [LayerWaste() for _ in image.layers]
    for h_pos, layer in enumerate(image.layers):
        li = layer.data
        hb = a.hidden_by[h_pos]
        for row in range(len(li)):  # type: ignore[arg-type]
            by = hb[row]
            if by == -1:
                continue
            ref = pack(h_pos, row)
            if ref in a.kept:
                continue  # a visible hardlink still shows these bytes
            size = li.sizes[row] if li.types[row] == 0 else 0  # type: ignore[union-attr]
            if size == 0 and not include_empty:
                continue
            how = a.how[h_pos][row]
            reason = ("", "overwritten", "whiteout", "parent-whiteout", "opaque", "type-change",
                      "parent-replaced")[how]  # fmt: skip
            if reason == "overwritten":
                new = replaced_by.get(ref)
                if new is not None:
                    npos, nrow = unpack(new)
                    status = a.status[npos][nrow]
                    if status == REWRITTEN:
                        reason = "rewritten"
                    elif status == METADATA:
                        reason = "metadata"
            items.append(WasteItem(li.paths[row], size, h_pos, by, reason, row))  # type: ignore[union-attr]
            per_layer[h_pos].stored += size
            per_layer[by].caused += size
    for _digest, size, paths in image.duplicates:
        first = paths[0]
        for p in paths[1:]:
            pos, row = unpack(a.final[p])
            items.append(WasteItem(p, size, pos, None, "duplicate", row, duplicate_of=first))
    items.sort(key=lambda i: (-i.size, i.layer, i.path))
    return Waste(items, per_layer)
