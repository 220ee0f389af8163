"""What the union of an image's layers shows (`Analysis`, computed by filesystem.py), how its
numbers name entries, and its plain form for the cache.

An entry is named by a packed reference, `ref = pack(layer position, row)`: one int, cheap to
keep by the million in dicts and arrays. `unpack(ref)` gives the two back.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import and_, getitem, rshift
from typing import Any

from layerscope.model import bulk
from layerscope.read.records import LayerIndex

SHIFT = 32  # a ref is `layer << SHIFT | row`
MASK = (1 << SHIFT) - 1
VISIBLE = -1  # in `Analysis.hidden_by`: no layer hides the entry
IMPLIED = -1  # in `Analysis.final`: a directory that exists only because something lies under it


def pack(layer: int, row: int) -> int:
    """The ref of row `row` of the layer at position `layer`."""
    return (layer << SHIFT) | row


def unpack(ref: int) -> tuple[int, int]:
    """The (layer position, row) a ref names."""
    return ref >> SHIFT, ref & MASK


def layer_rows(refs: Iterable[int], layer: int) -> set[int]:
    """The rows of the layer at position `layer` among `refs`."""
    return {ref & MASK for ref in refs if ref >> SHIFT == layer}


@dataclass(repr=False)
class Analysis:
    """What the union of the layers shows: per-entry status and hiding, per-layer removals."""

    layers: Sequence[LayerIndex]
    status: list[bytearray]  # per layer position, per row: a kinds.STATUSES value, or NO_STATUS
    hidden_by: list[array]  # per layer position, per row: layer that hid it, or VISIBLE
    how: list[bytearray]  # per layer position, per row: a kinds.How value (0 when visible)
    removed: list[int]  # per layer position: paths its whiteouts/opaques took away
    final: dict[str, int]  # the final filesystem: real path -> ref (IMPLIED for implied dirs)
    real_paths: dict[int, str] = field(default_factory=dict)  # ref -> real path where it differs
    hardlink_targets: dict[int, int] = field(default_factory=dict)  # hardlink ref -> file ref
    kept: set[int] = field(default_factory=set)  # hidden file refs whose content a hardlink keeps
    below: dict[int, int] = field(default_factory=dict)  # ref -> ref it replaced from below
    # refs that the other way of applying layers (overlay storage / following lower symlinks)
    # places at another path: the image runs differently on different engines
    through_symlink: set[int] = field(default_factory=set)

    def real_path(self, ref: int) -> str:
        """Where an entry lies once symlinked parent directories are followed."""
        p = self.real_paths.get(ref)
        if p is not None:
            return p
        layer, row = unpack(ref)
        return self.layers[layer].paths[row]

    def content_ref(self, ref: int) -> int:
        """The file entry whose bytes a ref shows (itself, or a hardlink's target)."""
        return self.hardlink_targets.get(ref, ref)

    def __repr__(self) -> str:
        return f"<Analysis of {len(self.layers)} layers: {len(self.final)} final paths>"

    # -- the plain form (marshal's types only), for the cache -----------------------------------
    def to_plain(self) -> dict[str, Any]:
        """The analysis as named plain values (`from_plain` makes it again)."""
        return {
            "status": [bytes(s) for s in self.status],
            "hidden_by": [h.tobytes() for h in self.hidden_by],
            "how": [bytes(h) for h in self.how],
            "removed": self.removed,
            "final": array("q", self.final.values()).tobytes(),
            "implied": [path for path, ref in self.final.items() if ref == IMPLIED],
            "real_paths": self.real_paths,
            "hardlink_targets": self.hardlink_targets,
            "kept": self.kept,
            "below": self.below,
            "through_symlink": self.through_symlink,
        }

    @classmethod
    def from_plain(cls, plain: dict[str, Any], layers: Sequence[LayerIndex]) -> Analysis:
        """The analysis `to_plain` gave, of these layers; ValueError (or another error) if the
        plain form is of another shape or another image's."""
        if not isinstance(plain, dict) or set(plain) != set(_PLAIN_FIELDS):
            raise ValueError("another shape")
        status = plain["status"]
        if len(status) != len(layers) or any(
            len(s) != len(li) for s, li in zip(status, layers, strict=True)
        ):
            raise ValueError("another image")
        hidden_by = []
        for raw in plain["hidden_by"]:
            col = array("i")
            col.frombytes(raw)
            hidden_by.append(col)
        a = cls(
            layers=layers,
            status=[bytearray(s) for s in status],
            hidden_by=hidden_by,
            how=[bytearray(h) for h in plain["how"]],
            removed=plain["removed"],
            final={},
            real_paths=plain["real_paths"],
            hardlink_targets=plain["hardlink_targets"],
            kept=plain["kept"],
            below=plain["below"],
            through_symlink=plain["through_symlink"],
        )
        refs = array("q")
        refs.frombytes(plain["final"])
        a.final = a._final_from(refs, plain["implied"])
        return a

    def _final_from(self, refs: array, implied: list[str]) -> dict[str, int]:
        """The final filesystem again, in its order, its paths the index's own strings (looked
        up at C speed, in pieces: the app's loader does this while keys are answered)."""
        # a ref's own path: layers[ref >> SHIFT].paths[ref & MASK]; IMPLIED (-1) finds None in
        # the last "layer", a mapping of the row it gives (MASK) to None
        columns: list[Any] = [li.paths for li in self.layers] + [{MASK: None}]
        layer_of = map(columns.__getitem__, map(rshift, refs, repeat(SHIFT)))
        own: Iterable[Any] = map(getitem, layer_of, map(and_, refs, repeat(MASK)))
        moved: Callable[[int, str | None], str | None] = self.real_paths.get
        paths: list[str | None] = bulk.list_of(map(moved, bulk.paced(refs), own))
        if implied:
            more = iter(implied)
            for at in compress(count(), map(IMPLIED.__eq__, bulk.paced(refs))):
                paths[at] = next(more)
        return bulk.dict_of(zip(paths, refs, strict=True))  # type: ignore[arg-type]


_PLAIN_FIELDS = (
    "status",
    "hidden_by",
    "how",
    "removed",
    "final",
    "implied",
    "real_paths",
    "hardlink_targets",
    "kept",
    "below",
    "through_symlink",
)
