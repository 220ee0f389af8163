"""An image and its layers, with every figure layerscope shows (docs/report.md defines them)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from functools import cached_property
from itertools import compress, repeat
from operator import attrgetter, itemgetter, sub

from layerscope.model.analysis import IMPLIED, MASK, SHIFT, VISIBLE, Analysis, pack, unpack
from layerscope.model.dive_compat import DiveFigures, dive_figures
from layerscope.model.figurecache import ANALYSIS, FIGURES, ImageMemo
from layerscope.model.figures import Changes, Duplicate, Figures, Hidden
from layerscope.model.filesystem import FOLLOW, analyse
from layerscope.model.gcpause import pausing
from layerscope.model.kinds import NO_STATUS, How, Kind
from layerscope.read.config import HistoryStep, ImageConfig
from layerscope.read.formats import ImageSpec, LayerSpec
from layerscope.read.records import (
    DIR,
    FILE,
    HARDLINK,
    TYPE_NAMES,
    Entry,
    LayerIndex,
)

# The bitmap that finds contents seen twice: at least 2**12 bits, and 16 or more a file (so
# that few contents seen once share a bit with another).
DUP_BITS_MIN, DUP_BITS_PER_FILE = 12, 16
ROWS = 1 << 16  # rows looked up at once in a layer's columns
LAYER_FIGURES = ("size", "changes")  # a Layer's cached properties the figure cache keeps
IMAGE_FIGURES = ("_final_summary", "hidden", "dive", "through_symlink_refs")  # an Image's


class Layer:
    """One layer of an image (a position: the same blob can stand at several)."""

    def __init__(self, image: Image, spec: LayerSpec) -> None:
        self.image = image
        self.spec = spec
        self.position = spec.index
        self.data: LayerIndex | None = None
        self.error: str | None = None

    @property
    def diff_id(self) -> str:
        """The digest of the layer's uncompressed tar, as the image's config names it."""
        return self.spec.diff_id

    @property
    def digest(self) -> str:
        """The digest of the layer's blob (as read, else as the manifest says)."""
        if self.data is not None and self.data.digest:
            return self.data.digest
        return self.spec.digest or self.spec.diff_id

    @property
    def compression(self) -> str | None:
        """How the blob is compressed (`none`, `gzip`, ...), None until it is read."""
        return self.data.compression if self.data is not None else None

    @property
    def stored_size(self) -> int:
        """The bytes of the blob as stored in the archive."""
        return self.spec.location.size

    @property
    def loaded(self) -> bool:
        """Whether the layer's blob was read."""
        return self.data is not None

    @property
    def index(self) -> LayerIndex:
        """The layer's entries, column by column (`data`, once read: a RuntimeError before)."""
        if self.data is None:
            raise RuntimeError(f"layer {self.position} is not loaded")
        return self.data

    @cached_property
    def size(self) -> int:
        """Sum of the sizes of the regular files in the layer's tar."""
        return self.index.size

    @property
    def history(self) -> HistoryStep | None:
        """The history step that made this layer, when the config's history lines up."""
        return self.image.config.layer_step(self.position)

    @property
    def created_by(self) -> str | None:
        """The command that made this layer, if the history says."""
        step = self.history
        return step.created_by if step is not None else None

    def __len__(self) -> int:
        return len(self.index)

    def entries(self) -> Iterator[Entry]:
        """Every entry of the layer, in tar order."""
        return iter(self.index)

    @cached_property
    def changes(self) -> Changes:
        """The layer's entries counted by status, and the paths it removed."""
        a = self.image.analysis
        status = a.status[self.position]  # one byte a row: counted at C speed
        return Changes(
            added=status.count(Kind.ADDED),
            modified=status.count(Kind.MODIFIED),
            metadata=status.count(Kind.METADATA),
            rewritten=status.count(Kind.REWRITTEN),
            removed=a.removed[self.position],
        )

    def status(self, row: int) -> str | None:
        """How a row compares with what the layers below showed (added / modified / metadata /
        rewritten: a kinds.STATUSES label), or None for a marker or a metadata entry."""
        code = self.image.analysis.status[self.position][row]
        return None if code == NO_STATUS else Kind(code).label

    def hidden_by(self, row: int) -> tuple[int, str] | None:
        """(layer, how: a kinds.How label) if a layer hid this row, else None."""
        a = self.image.analysis
        h = a.hidden_by[self.position][row]
        if h == VISIBLE:
            return None
        return h, How(a.how[self.position][row]).label

    def through_symlink(self, row: int) -> bool:
        """Whether overlay-based storage and an applier that follows lower symlinks place this
        row at different paths (a parent of its name is a symlink of a lower layer): the image
        runs differently on different engines."""
        return pack(self.position, row) in self.image.through_symlink_refs

    def __repr__(self) -> str:
        entries = f"{len(self.data)} entries" if self.data is not None else "not read"
        return f"<Layer {self.position} {self.diff_id[:19]}: {entries}>"


class Image:
    """An image of an archive: its config, its layers, and (once its layers are read) its figures."""

    def __init__(self, spec: ImageSpec, number: int) -> None:
        self.spec = spec
        self.number = number  # position among every image given
        self.layers = [Layer(self, ls) for ls in spec.layers]
        self.memo: ImageMemo | None = None  # its entries in the cache, when there is one

    @property
    def source(self) -> str:
        """The input the image was found in, as the user named it."""
        return self.spec.source

    @property
    def refs(self) -> list[str]:
        """The image's names (`repo:tag`), as the archive gives them."""
        return self.spec.refs

    @property
    def ref(self) -> str | None:
        """The image's first name, if it has one."""
        return self.spec.ref

    @property
    def config(self) -> ImageConfig:
        """The image's config: diff_ids, history, runtime settings."""
        return self.spec.config

    @property
    def config_digest(self) -> str:
        """The digest of the image's config blob."""
        return self.spec.config_digest

    @property
    def platform(self) -> str:
        """os/architecture[/variant], from the config."""
        return self.spec.platform

    @property
    def history(self) -> list[HistoryStep]:
        """The config's history steps, empty ones included."""
        return self.spec.config.history

    @property
    def name(self) -> str:
        """The image's first name, else the start of its config digest."""
        return self.ref or self.config_digest[:19]

    @property
    def loaded(self) -> bool:
        """Whether every layer was read."""
        return all(layer.loaded for layer in self.layers)

    @cached_property
    def analysis(self) -> Analysis:
        """What the union of the layers shows (from the cache when it holds it)."""
        missing = [layer.position for layer in self.layers if layer.data is None]
        if missing:
            raise RuntimeError(f"layers {missing} are not loaded")
        layers = [layer.index for layer in self.layers]
        if self.memo is not None:
            a = self.memo.load(ANALYSIS, lambda plain: Analysis.from_plain(plain, layers))
            if a is not None:
                return a
        return analyse(layers, self.spec.max_symlink_hops, follow=self.spec.apply == FOLLOW)

    # -- figures ---------------------------------------------------------------------------
    @property
    def stored_size(self) -> int:
        """Bytes of the image's distinct layer blobs as stored in the archive (known before any
        layer is read)."""
        return sum({ly.spec.location: ly.stored_size for ly in self.layers}.values())

    @cached_property
    def size(self) -> int:
        """Sum of the layers' sizes."""
        return sum(layer.size for layer in self.layers)

    @cached_property
    @pausing
    def _final_summary(self) -> tuple[int, int, list[Duplicate]]:
        """final_size, final_files and duplicates: the final refs sorted, each layer's rows
        among them looked up in its columns at once (types, sizes, the first four bytes of the
        digests), the heads marked in a bitmap (by their low bits: few files share a bit with
        another): only the contents whose bit is seen twice are then grouped by their full
        digest, and no object is kept per file. A hardlink to a visible file is that file (one
        inode): no bytes of its own; a deleted file that visible hardlinks keep counts once, at
        its first hardlink's path."""
        total = files = 0
        bits = 1 << max(DUP_BITS_MIN, (DUP_BITS_PER_FILE * len(self.analysis.final)).bit_length())
        seen, mask = bytearray(bits >> 3), bits - 1
        twice: set[int] = set()  # the masked heads seen twice or more
        hardlinks = False
        for _pos, li, rows, types in self._final_rows():
            files += len(rows) - types.count(DIR)
            hardlinks = hardlinks or HARDLINK in types
            mine = list(compress(rows, map(FILE.__eq__, types)))
            if mine:
                sizes = _take(mine, li.sizes)
                total += sum(sizes)
                for h in map(mask.__and__, compress(_take(mine, _digest_heads(li)), sizes)):
                    if seen[h >> 3] & (1 << (h & 7)):
                        twice.add(h)
                    else:
                        seen[h >> 3] |= 1 << (h & 7)
        kept: list[tuple[str, int]] = []  # (path, target) of the hardlinks whose bytes count
        if hardlinks and self.analysis.kept:
            kept = self._kept_by_hardlinks()
            for _path, target in kept:
                pos, row = unpack(target)
                li = self.layers[pos].index
                total += li.sizes[row]
                if li.sizes[row]:
                    h = _digest_heads(li)[row] & mask
                    if seen[h >> 3] & (1 << (h & 7)):
                        twice.add(h)
                    seen[h >> 3] |= 1 << (h & 7)
        del seen
        return total, files, self._duplicates(twice, mask, kept) if twice else []

    def _final_rows(self) -> Iterator[tuple[int, LayerIndex, list[int], tuple[int, ...]]]:
        """(position, index, rows, their types) of each layer's entries in the final
        filesystem, in row order, ROWS at a time (what they cost is bounded)."""
        refs = sorted(self.analysis.final.values())
        start = bisect_right(refs, IMPLIED)  # implied directories come first: no rows
        for pos, layer in enumerate(self.layers):
            end = bisect_left(refs, (pos + 1) << SHIFT, start)
            for at in range(start, end, ROWS):
                rows = refs[at : min(at + ROWS, end)]
                if pos:
                    rows = list(map(sub, rows, repeat(pos << SHIFT)))
                yield pos, layer.index, rows, _take(rows, layer.index.types)
            start = end

    def _duplicates(
        self, twice: set[int], mask: int, kept: list[tuple[str, int]]
    ) -> list[Duplicate]:
        """The final files (and the files `kept` by hardlinks, at the hardlinks' paths) whose
        digest head (masked) is in `twice`, grouped by their full digest."""
        a = self.analysis
        groups: dict[bytes, list[str]] = {}
        sizes: dict[bytes, int] = {}

        def group(path: str, li: LayerIndex, row: int) -> None:
            size = li.sizes[row]
            if size:
                d = bytes(li.digests[32 * row : 32 * row + 32])
                groups.setdefault(d, []).append(path)
                sizes[d] = size

        for path, target in kept:
            group(path, self.layers[target >> SHIFT].index, target & MASK)
        moved = a.real_paths  # entries not at their own path (a symlink on the way)
        for pos, li, rows, types in self._final_rows():
            mine = list(compress(rows, map(FILE.__eq__, types)))
            if mine:
                heads = map(mask.__and__, _take(mine, _digest_heads(li)))
                paths = li.paths
                for row in compress(mine, map(twice.__contains__, heads)):
                    group(moved.get(pack(pos, row), paths[row]) if moved else paths[row], li, row)
        dups = [("sha256:" + d.hex(), sizes[d], sorted(p)) for d, p in groups.items() if len(p) > 1]
        dups.sort(key=lambda x: (-(x[1] * (len(x[2]) - 1)), x[2][0]))
        return dups

    def _kept_by_hardlinks(self) -> list[tuple[str, int]]:
        """(path, file ref) of each final hardlink whose target file is hidden (its bytes are
        kept by the hardlink): the first such hardlink of each, in the final filesystem's
        order."""
        a = self.analysis
        types = [layer.index.types for layer in self.layers]
        out: list[tuple[str, int]] = []
        seen: set[int] = set()
        for path, ref in a.final.items():
            if ref == IMPLIED or types[ref >> SHIFT][ref & MASK] != HARDLINK:
                continue
            target = a.hardlink_targets.get(ref)
            if target is not None and target in a.kept and target not in seen:
                seen.add(target)
                out.append((path, target))
        return out

    @property
    def final_size(self) -> int:
        """Sum of the sizes of the regular files visible in the final filesystem (a file kept
        only by a visible hardlink counts once)."""
        return self._final_summary[0]

    @property
    def final_files(self) -> int:
        """Entries in the final filesystem that are not directories."""
        return self._final_summary[1]

    @property
    def duplicates(self) -> list[Duplicate]:
        """(digest, size of one copy, paths) for each content at two or more final paths, most
        wasted bytes first. Hardlinks to a visible file are that file (one inode), not copies; a
        deleted file that visible hardlinks keep counts once, at its first hardlink's path."""
        return self._final_summary[2]

    @cached_property
    @pausing
    def hidden(self) -> list[Hidden]:
        """Every entry (markers aside) that the final filesystem does not show, largest first."""
        a = self.analysis
        how_labels = {h.value: h.label for h in How}
        kept = a.kept
        out = []
        for pos, layer in enumerate(self.layers):
            li = layer.index
            paths, types, sizes = li.paths, li.types, li.sizes
            hb = a.hidden_by[pos]
            how = a.how[pos]
            for row in compress(range(len(li)), map(VISIBLE.__ne__, hb)):
                t = types[row]
                out.append(
                    Hidden(paths[row], TYPE_NAMES[t], sizes[row] if t == FILE else 0, pos,
                           hb[row], how_labels[how[row]], bool(kept) and pack(pos, row) in kept)
                )  # fmt: skip
        # largest first, then by layer and path: three stable sorts on one field each (a key
        # made per entry costs more than the sorts)
        out.sort(key=attrgetter("path"))
        out.sort(key=attrgetter("layer"))
        out.sort(key=attrgetter("size"), reverse=True)
        return out

    @property
    def apply(self) -> str:
        """How its layers are applied: "overlay" (as overlay-based storage does) or "follow"."""
        return self.spec.apply

    @cached_property
    def through_symlink_refs(self) -> frozenset[int]:
        """The entries that overlay-based storage and an applier following lower symlinks place
        at different paths (see `Layer.through_symlink`), as refs."""
        return frozenset(self.analysis.through_symlink)

    @property
    def through_symlink(self) -> int:
        """The number of those entries."""
        return len(self.through_symlink_refs)

    @cached_property
    def reclaimable_bytes(self) -> int:
        """Sum of the sizes of regular-file entries stored in any layer but not visible in the
        final filesystem (content a visible hardlink keeps aside)."""
        return sum(h.size for h in self.hidden if h.type == "file" and not h.kept_by_hardlink)

    @property
    def reclaimable_fraction(self) -> float:
        """Reclaimable bytes divided by the image size (0 for an empty image)."""
        return self.reclaimable_bytes / self.size if self.size else 0.0

    @cached_property
    def duplicate_bytes(self) -> int:
        """Bytes in the final filesystem beyond the first copy of each distinct content."""
        return sum(size * (len(paths) - 1) for _d, size, paths in self.duplicates)

    @cached_property
    def dive(self) -> DiveFigures:
        """The figures dive 0.13.1 shows, computed as it does, quirks included (dive_compat)."""
        # one layer at a time: dive_figures consumes them as it goes
        return dive_figures(layer.index for layer in self.layers)

    def start_dive(self) -> None:
        """Compute `dive` now, before the analysis: its temporary memory is free again when the
        analysis takes its own (computed alongside, in a forked process, a big image would count
        twice in the memory of its processes)."""
        if self.loaded:
            self.dive  # noqa: B018 (the cached property is the point)

    def final_entries(self) -> Iterator[tuple[str, Entry | None]]:
        """(real path, entry) of the final filesystem; entry None for implied directories."""
        final = self.analysis.final
        indexes = [layer.index for layer in self.layers]
        for path, ref in final.items():
            if ref == IMPLIED:
                yield path, None
            else:
                pos, row = unpack(ref)
                yield path, indexes[pos].entry(row)

    # -- the figure cache ----------------------------------------------------------------------
    def recall_figures(self) -> bool:
        """Take the figures the cache holds for this image (through `memo`), if it holds them."""
        if self.memo is None:
            return False
        layers = len(self.layers)
        figures = self.memo.load(FIGURES, lambda plain: Figures.from_plain(plain, layers))
        if figures is None:
            return False
        for layer, size, changes in zip(
            self.layers, figures.layer_sizes, figures.layer_changes, strict=True
        ):
            layer.__dict__.setdefault("size", size)
            layer.__dict__.setdefault("changes", changes)
        summary = (figures.final_size, figures.final_files, figures.duplicates)
        self.__dict__.setdefault("_final_summary", summary)
        self.__dict__.setdefault("hidden", figures.hidden)
        self.__dict__.setdefault("dive", figures.dive)
        self.__dict__.setdefault("through_symlink_refs", frozenset(figures.through_symlink))
        return True

    @pausing
    def remember_figures(self) -> None:
        """Store the image's figures in the cache, once all of them are computed (and unless
        they came from it)."""
        if self.memo is None or self.memo.holds(FIGURES) or not self._figures_computed():
            return
        total, files, duplicates = self._final_summary
        figures = Figures(
            layer_sizes=[layer.size for layer in self.layers],
            layer_changes=[layer.changes for layer in self.layers],
            final_size=total,
            final_files=files,
            duplicates=duplicates,
            hidden=self.hidden,
            dive=self.dive,
            through_symlink=sorted(self.through_symlink_refs),
        )
        self.memo.store(FIGURES, figures.to_plain())

    def remember_analysis(self) -> None:
        """Store the image's analysis in the cache, if it was computed (and not read from it)."""
        if self.memo is not None and "analysis" in self.__dict__:
            self.memo.store(ANALYSIS, self.analysis.to_plain())

    def _figures_computed(self) -> bool:
        return all(name in self.__dict__ for name in IMAGE_FIGURES) and all(
            name in layer.__dict__ for layer in self.layers for name in LAYER_FIGURES
        )

    def __repr__(self) -> str:
        return f"<Image {self.name} ({self.platform}): {len(self.layers)} layers>"


def _digest_heads(li: LayerIndex) -> Sequence[int]:
    """The first four bytes of each row's digest, as numbers (a view: no copy)."""
    return memoryview(li.digests).cast("I")[::8]


def _take(rows: list[int], column: Sequence[int]) -> tuple[int, ...]:
    """column[row] for each of `rows` (at least one), at C speed."""
    got = itemgetter(*rows)(column)
    return got if len(rows) > 1 else (got,)
