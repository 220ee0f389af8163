"""Where the wasted bytes are, in two separate groups that the README and the Image pane name:
the **reclaimable** bytes (every hidden entry, with the layer that stored it, the layer that hid
it and how) and the **duplicate bytes** (extra copies of a content still visible at several
paths). The two are never mixed: a layer's reclaimable bytes are only those of its hidden files.

An entry's reason is spelt as the report and the file tree spell how it was hidden (kinds.How:
`overwritten`, `whiteout`, `parent-whiteout`, `opaque`, `type-change`, `parent-replaced`); an
overwrite says also what the entry above it is when that is a rewrite or a metadata change, in
the file tree's words for those kinds (`overwritten (rewritten)`). Entries that a layer removed
with their directory (a whiteout of the directory, an opaque directory, a directory replaced by
another type) are gathered under that directory (`DeadDir`), so that a deleted tree reads as one
row with its total.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from layerscope.model.analysis import VISIBLE, Analysis, pack, unpack
from layerscope.model.image import Image
from layerscope.model.kinds import How, Kind
from layerscope.read.records import DIR, F_ALSO_OPAQUE, F_META, FILE, OPAQUE, WHITEOUT

DUPLICATE = "duplicate"  # the reason of an extra copy of a content still visible
# Each reason's words, in full, short and shortest (a narrow screen shortens the reason before
# the path): how the entry was hidden, an overwrite told apart by the kind of the entry that hid
# it (in the file tree's marks: `=` rewritten, `*` metadata), or a duplicate.
REASONS: dict[str, tuple[str, str, str]] = {
    How.OVERWRITTEN.label: ("overwritten", "overwr.", "ovw"),
    How.WHITEOUT.label: ("whiteout", "whiteout", "wh"),
    How.PARENT_WHITEOUT.label: ("parent-whiteout", "parent-wh.", "p-wh"),
    How.OPAQUE.label: ("opaque", "opaque", "opq"),
    How.TYPE_CHANGE.label: ("type-change", "type-ch.", "type"),
    How.PARENT_REPLACED.label: ("parent-replaced", "parent-repl.", "p-repl"),
    Kind.REWRITTEN.label: ("overwritten (rewritten)", "overwr. (rewr.)", "ovw="),
    Kind.METADATA.label: ("overwritten (metadata)", "overwr. (meta.)", "ovw*"),
    DUPLICATE: ("extra copy", "copy", "copy"),
}
# How a directory went, when what lay under it was hidden with it: the reason of its own row.
DIR_REASON: dict[How | None, How] = {
    How.PARENT_WHITEOUT: How.WHITEOUT,
    How.OPAQUE: How.OPAQUE,
    How.PARENT_REPLACED: How.TYPE_CHANGE,
}


@dataclass(frozen=True)
class WasteItem:
    """Bytes stored for nothing: a hidden entry, or an extra copy of a visible content."""

    path: str  # the entry's name in its layer
    size: int
    layer: int  # the layer that stored the bytes
    made_dead_by: int | None  # the layer that hid them (None for a duplicate still visible)
    reason: str  # a key of REASONS
    row: int  # the row in `layer`, to jump to the entry
    duplicate_of: str | None = None  # for a duplicate: the content's first path
    how: How | None = None  # how it was hidden (None for a duplicate)

    @property
    def reason_text(self) -> str:
        """The reason in words."""
        return REASONS[self.reason][0]

    @property
    def reason_forms(self) -> tuple[str, str, str]:
        """The reason in full, short and in a few letters (for a narrow screen)."""
        return REASONS[self.reason]


@dataclass
class DeadDir:
    """A directory a layer removed with what lay under it: the hidden entries below it that one
    layer stored (its own entry too, when it is listed)."""

    path: str  # its real path
    how: How  # how the directory itself went: whiteout, opaque (cleared), type-change
    items: list[WasteItem]  # largest first
    entry: WasteItem | None = None  # the directory's own entry, when listed (empty entries)
    size: int = field(init=False)  # the bytes of the entries below it

    def __post_init__(self) -> None:
        self.size = sum(i.size for i in self.items)


@dataclass
class Copies:
    """One content at several final paths: the first path, and the extra copies."""

    digest: str
    size: int  # the size of one copy
    first: str
    extra: list[WasteItem]

    @property
    def extra_bytes(self) -> int:
        """The duplicate bytes of this content: its size times the extra copies."""
        return self.size * len(self.extra)


@dataclass
class LayerWaste:
    """One layer's reclaimable bytes: those it holds (stored, then hidden by a later layer)
    and those it hides (of any layer)."""

    stored: int = 0  # reclaimable bytes this layer stored ("holds")
    caused: int = 0  # reclaimable bytes of lower layers (or its own) this layer hid ("hides")


Group = DeadDir | WasteItem  # what a (stored, hidden by) group lists


@dataclass
class Waste:
    """Every wasted byte of an image, the reclaimable and the duplicate apart."""

    items: list[WasteItem]  # largest first, hidden entries and extra copies
    per_layer: list[LayerWaste]
    copies: list[Copies] = field(default_factory=list)  # most duplicate bytes first
    hidden_groups: dict[tuple[int, int], list[Group]] = field(default_factory=dict)

    @property
    def hidden(self) -> list[WasteItem]:
        """The hidden entries listed (largest first)."""
        return [i for i in self.items if i.reason != DUPLICATE]

    @property
    def hidden_bytes(self) -> int:
        """Bytes of the hidden entries listed: the image's reclaimable bytes."""
        return sum(i.size for i in self.items if i.reason != DUPLICATE)

    @property
    def duplicate_bytes(self) -> int:
        """Bytes of the extra copies listed: the image's duplicate bytes."""
        return sum(i.size for i in self.items if i.reason == DUPLICATE)

    def groups(self) -> dict[tuple[int, int], list[Group]]:
        """The hidden entries by (layer that stored, layer that hid), the largest group first;
        within one, deleted directories and entries, largest first."""
        return self.hidden_groups


def waste(image: Image, *, include_empty: bool = False) -> Waste:
    """Hidden regular files (and, with include_empty, every hidden entry) and duplicated final
    content. A file whose only change above is its metadata, or that was stored again unchanged,
    is told apart from a real overwrite by how the entry that hid it compares with it."""
    a = image.analysis
    replaced_by = {old: new for new, old in a.below.items()}
    hows = {how.value: (how, how.label) for how in How}
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
            how, reason = hows[a.how[h_pos][row]]
            if how == How.OVERWRITTEN:
                new = replaced_by.get(ref)
                if new is not None:
                    npos, nrow = unpack(new)
                    status = a.status[npos][nrow]
                    if status in (Kind.REWRITTEN, Kind.METADATA):
                        reason = Kind(status).label
            items.append(WasteItem(li.paths[row], size, h_pos, by, reason, row, how=how))
            per_layer[h_pos].stored += size
            per_layer[by].caused += size
    copies = []
    for digest, size, paths in image.duplicates:
        first = paths[0]
        extra = []
        for p in paths[1:]:
            pos, row = unpack(a.final[p])
            extra.append(WasteItem(p, size, pos, None, DUPLICATE, row, duplicate_of=first))
        items.extend(extra)
        copies.append(Copies(digest, size, first, extra))
    items.sort(key=lambda i: (-i.size, i.layer, i.path))
    groups = _group_hidden(image, [i for i in items if i.reason != DUPLICATE])
    return Waste(items, per_layer, copies, groups)


def _group_hidden(image: Image, hidden: list[WasteItem]) -> dict[tuple[int, int], list[Group]]:
    """Hidden entries by (layer that stored, layer that hid); within a group, the entries a
    layer removed with their directory gathered under it (when there are two or more)."""
    a = image.analysis
    removed_dirs: dict[tuple[int, How], set[str]] = {}  # (layer, how) -> where it removed
    by_group: dict[tuple[int, int], list[WasteItem]] = defaultdict(list)
    for item in hidden:
        assert item.made_dead_by is not None
        by_group[(item.layer, item.made_dead_by)].append(item)
    out: dict[tuple[int, int], list[Group]] = {}
    relocated = a.real_paths  # the entries whose real path is not their name in the layer

    def real(item: WasteItem) -> str:
        return relocated.get(pack(item.layer, item.row), item.path) if relocated else item.path

    for key, members in by_group.items():
        by = key[1]
        under: dict[tuple[str, How], list[WasteItem]] = defaultdict(list)
        rest: list[WasteItem] = []
        tops: dict[tuple[str, How], str | None] = {}  # (parent, how) -> its removal's directory
        for item in members:
            how = DIR_REASON.get(item.how)
            if how is None:
                rest.append(item)
                continue
            path = real(item)
            parent = (path[: path.rfind("/") + 1], how)  # entries side by side share their top
            top = tops.get(parent, "/")  # ("/": not looked for yet; no real path holds one)
            if top == "/":
                dirs = removed_dirs.get((by, how))
                if dirs is None:
                    dirs = removed_dirs[(by, how)] = _removed_at(image, by, how)
                top = tops[parent] = _top(path, dirs)
            if top is None:
                rest.append(item)
            else:
                under[(top, how)].append(item)
        own = {(real(i), i.how): i for i in rest} if under else {}
        listed: list[Group] = []
        taken: set[int] = set()  # ids of the directories' own entries, listed with them
        for (path, how), below in under.items():
            entry = own.get((path, how))
            if len(below) < 2 and entry is None:
                rest.extend(below)
                continue
            if entry is not None:
                taken.add(id(entry))
            listed.append(DeadDir(path, how, below, entry))
        listed.extend(i for i in rest if id(i) not in taken)
        listed.sort(key=lambda g: (-g.size, g.path))
        out[key] = listed
    totals = {key: sum(g.size for g in listed) for key, listed in out.items()}
    return dict(sorted(out.items(), key=lambda kv: (-totals[kv[0]], kv[0])))


def _removed_at(image: Image, layer: int, how: How) -> set[str]:
    """The real paths where a layer removed what lay there with all below it: its whiteouts'
    targets (`how` WHITEOUT), its opaque directories (OPAQUE), or its entries other than
    directories, each of which replaces any directory below (TYPE_CHANGE)."""
    a: Analysis = image.analysis
    li = image.layers[layer].index
    types, flags = li.types, li.flags
    if how == How.WHITEOUT:
        rows: Iterable[int] = _rows_of(types, WHITEOUT)
    elif how == How.OPAQUE:
        also = flags.translate(_ALSO_OPAQUE)  # 1 where an entry carries the opaque xattr
        rows = [*_rows_of(types, OPAQUE), *(r for r in _rows_of(also, 1) if types[r] == DIR)]
    else:
        rows = (r for r, t in enumerate(types) if t not in _NOT_REPLACING)
    return {a.real_path(pack(layer, r)) for r in rows if not flags[r] & F_META}


_NOT_REPLACING = frozenset({DIR, WHITEOUT, OPAQUE})  # entries that replace no directory below
_ALSO_OPAQUE = bytes(1 if v & F_ALSO_OPAQUE else 0 for v in range(256))


def _rows_of(column: bytes | bytearray, value: int) -> Iterable[int]:
    """The rows where a byte column holds `value` (found in C, not row by row)."""
    row = column.find(value)
    while row >= 0:
        yield row
        row = column.find(value, row + 1)


def _top(path: str, dirs: set[str]) -> str | None:
    """The shallowest proper ancestor of `path` among `dirs` (a removal's own directory)."""
    if not dirs:
        return None
    if "" in dirs:  # the root: an opaque marker at the top of a layer
        return ""
    end = path.find("/")
    while end >= 0:
        if path[:end] in dirs:
            return path[:end]
        end = path.find("/", end + 1)
    return None
