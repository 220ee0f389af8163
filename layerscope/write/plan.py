"""What a slimmed image holds, worked out before a byte is written (docs/slim.md).

Layers 0..keep-1 are kept as they are; the layers above are replaced by one layer holding exactly
the difference between what the kept layers show and the final filesystem:

- every final entry that differs from what the kept layers show at its path (type, content,
  link target, mode, owner, mtime, xattrs, device numbers): its own metadata, its content read
  from the layer that stored it; hardlinks as hardlinks;
- a whiteout for each path the kept layers show and the final filesystem does not (the topmost
  one of a removed subtree), or one opaque marker on a directory where that is shorter: where
  two or more whiteouts would lie under it and every final entry under it is written anyway;
- a plain directory (0755, root, mtime 0) where the final filesystem only implies one that the
  kept layers do not show and nothing written under it would imply it.

`SlimPlan.index` is the squashed layer as layerscope will read it back (every column but the data
offsets), so the figures announced before writing are computed by the very code that analyses
the written image: `size_after`, `reclaimable_after` are what the re-read image reports.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from layerscope.model.analysis import IMPLIED, MASK, SHIFT, VISIBLE, Analysis, pack, unpack
from layerscope.model.filesystem import FOLLOW, analyse_over
from layerscope.model.image import Image
from layerscope.model.kinds import NO_STATUS
from layerscope.read.records import (
    BLOCK,
    CHAR,
    DIR,
    FILE,
    HARDLINK,
    NO_DIGEST,
    OPAQUE,
    SYMLINK,
    WHITEOUT,
    LayerIndex,
)

# xattrs that are overlay's markers, not the file's: an opaque directory is said by a marker
OVERLAY_XATTRS = frozenset({"trusted.overlay.opaque", "user.overlay.opaque"})
DEFAULT_DIR_MODE = 0o755
PERMS = 0o7777  # the mode bits a tar header keeps


class Member(NamedTuple):
    """One entry of the squashed layer. `ref`: the source entry whose metadata it takes (None
    for a marker or a made directory); `content`: the source file whose bytes it holds."""

    path: str
    type: int
    ref: int | None
    content: int | None
    link: str | None
    dangling: bool = False  # a hardlink that named no file in its layer


@dataclass
class SlimPlan:
    """The squashed layer for `keep` kept layers, and the figures of the image it makes."""

    keep: int
    members: list[Member]
    index: LayerIndex  # the squashed layer as it will read back (offsets aside)
    size_before: int  # the image's size (sum of its layers' regular-file bytes)
    size_after: int
    reclaimable_before: int
    reclaimable_after: int
    whiteouts: int = 0
    opaques: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def saved(self) -> int:
        """The bytes of the image's size that slimming removes."""
        return self.size_before - self.size_after

    @property
    def squashed_size(self) -> int:
        """The regular-file bytes of the new layer."""
        return self.index.size


@dataclass(frozen=True)
class Option:
    """Slimming from one layer: the layers kept, the new layer's bytes, the bytes saved."""

    keep: int
    kept_bytes: int
    squashed_bytes: int
    saved: int


def check_keep(image: Image, keep: int) -> None:
    """`keep` must leave at least one layer to squash."""
    n = len(image.layers)
    if not 0 <= keep < n:
        raise ValueError(f"--keep {keep}: the image has {n} layers; keep 0 to {n - 1}")


def default_keep(image: Image) -> int:
    """The layers of the base image when the history shows where it ends, else 1 (never all):
    the layers made before the first CMD or ENTRYPOINT step (a base image ends with one) that
    is followed by a layer, else before the first step of a BuildKit Dockerfile build."""
    cfg = image.config
    n = len(image.layers)
    if not cfg.history_aligned or not cfg.history:
        return min(1, n - 1)
    made = 0
    ends = None
    for i, step in enumerate(cfg.history):
        cmd = (step.created_by or "").strip()
        words = cmd.replace("#(nop)", " ").split()
        if words[:2] == ["/bin/sh", "-c"]:
            words = words[2:]
        if (
            step.empty_layer
            and words[:1] in (["CMD"], ["ENTRYPOINT"])
            and any(not s.empty_layer for s in cfg.history[i + 1 :])
        ):
            ends = made
            break
        if not step.empty_layer:
            made += 1
    if ends is None:
        made = 0
        for step in cfg.history:
            if (step.comment or "").startswith("buildkit.dockerfile"):
                ends = made
                break
            if not step.empty_layer:
                made += 1
    if not ends:
        return min(1, n - 1)
    return min(ends, n - 1)


def options(image: Image) -> list[Option]:
    """Slimming from every layer (keep 0 .. layers-1): the layers kept and the bytes saved,
    exact (`plan(...).saved` for each), without the analysis of the kept layers a full plan
    makes: the squashed layer's file bytes only need what the kept layers show explicitly."""
    a = image.analysis
    layers = [ly.index for ly in image.layers]
    size = image.size
    out = []
    kept_bytes = 0
    for keep in range(len(layers)):
        squashed = sum(
            layers[content >> SHIFT].sizes[content & MASK]
            for content in _file_contents(image, a, keep, _explicit_view(a, keep))
        )
        out.append(Option(keep, kept_bytes, squashed, size - kept_bytes - squashed))
        kept_bytes += layers[keep].size
    return out


def plan(image: Image, keep: int) -> SlimPlan:
    """The squashed layer above `keep` kept layers, and the image's figures after."""
    check_keep(image, keep)
    a = image.analysis
    layers = [ly.index for ly in image.layers]
    members: list[Member] = []

    def squashed(kept_view: dict[str, int]) -> LayerIndex:
        members.extend(_Builder(image, a, keep, kept_view).members())
        return squashed_index(image, members)

    # the kept layers walked once: what they show makes the squashed layer, applied on them
    index, after = analyse_over(layers[:keep], squashed, image.spec.max_symlink_hops,
                                follow=image.spec.apply == FOLLOW)  # fmt: skip
    size_after = sum(li.size for li in layers[:keep]) + index.size
    counts: dict[str, int] = {}
    for m in members:
        name = _TYPE_WORDS.get(m.type, "devices")
        counts[name] = counts.get(name, 0) + 1
    return SlimPlan(
        keep=keep,
        members=members,
        index=index,
        size_before=image.size,
        size_after=size_after,
        reclaimable_before=image.reclaimable_bytes,
        reclaimable_after=reclaimable(after),
        whiteouts=counts.get("whiteouts", 0),
        opaques=counts.get("opaque", 0),
        counts=counts,
    )


_TYPE_WORDS: dict[int, str] = {FILE: "files", DIR: "dirs", SYMLINK: "symlinks", HARDLINK: "hardlinks",
               WHITEOUT: "whiteouts", OPAQUE: "opaque"}  # fmt: skip
# how `counts` reads in a sentence: (one, several)
COUNT_WORDS = {"files": ("file", "files"), "dirs": ("directory", "directories"),
               "symlinks": ("symlink", "symlinks"), "hardlinks": ("hardlink", "hardlinks"),
               "whiteouts": ("whiteout", "whiteouts"),
               "opaque": ("opaque directory", "opaque directories"),
               "devices": ("device or fifo", "devices and fifos")}  # fmt: skip


def reclaimable(a: Analysis) -> int:
    """Reclaimable bytes of an analysis, as `Image.reclaimable_bytes` counts them."""
    total = 0
    for pos, li in enumerate(a.layers):
        hb = a.hidden_by[pos]
        types, sizes = li.types, li.sizes
        for row in range(len(li)):
            if hb[row] != VISIBLE and types[row] == FILE and pack(pos, row) not in a.kept:
                total += sizes[row]
    return total


def _explicit_view(a: Analysis, keep: int) -> dict[str, int]:
    """What the kept layers show explicitly: real path -> ref (no implied directories)."""
    out: dict[str, int] = {}
    for pos in range(keep):
        hb, status = a.hidden_by[pos], a.status[pos]
        for row in range(len(hb)):
            if status[row] != NO_STATUS and (hb[row] == VISIBLE or hb[row] >= keep):
                ref = pack(pos, row)
                out[a.real_path(ref)] = ref
    return out


def _file_contents(image: Image, a: Analysis, keep: int, kept: dict[str, int]) -> Iterator[int]:
    """The source file refs whose bytes the squashed layer holds (one per regular file)."""
    b = _Builder(image, a, keep, kept)
    for m in b.members(markers=False):
        if m.type == FILE and m.content is not None:
            yield m.content


class _Builder:
    """Works out the squashed layer's members (see the module's docstring)."""

    def __init__(self, image: Image, a: Analysis, keep: int, kept: dict[str, int]) -> None:
        self.a = a
        self.keep = keep
        self.kept = kept  # what the kept layers show: path -> ref or IMPLIED
        self.layers = [ly.index for ly in image.layers]
        self.reset: set[str] = set()

    def _type(self, ref: int) -> int:
        if ref == IMPLIED:
            return DIR
        pos, row = unpack(ref)
        return self.layers[pos].types[row]

    def members(self, markers: bool = True) -> list[Member]:
        a, keep, kept = self.a, self.keep, self.kept
        final = a.final
        targets = set()  # files hardlinks of the squashed layers name: written, never skipped
        for ref in final.values():
            if ref != IMPLIED and ref >> SHIFT >= keep and self._type(ref) == HARDLINK:
                t = a.hardlink_targets.get(ref)
                if t is not None:
                    targets.add(t)
                else:  # names no file: what the final filesystem has there is written
                    pos, row = unpack(ref)  # after it (`early` below), never skipped
                    named = final.get(self.layers[pos].links.get(row) or "")
                    if named is not None and named != IMPLIED:
                        targets.add(named)
        plain: list[Member] = []
        hardlinks: list[tuple[str, int]] = []
        not_written: list[str] = []  # final paths the kept layers show as they are
        implied: list[str] = []  # implied directories the kept layers do not show
        replaced: set[str] = set()  # ... where they show something else
        # a directory the kept layers have as an entry and the final filesystem only implies
        # (an upper layer removed it, then made something under it): whited out, and what
        # lies under it is written whatever the kept layers had there
        reset = {
            p
            for p, ref in final.items()
            if ref == IMPLIED and (k := kept.get(p)) is not None and k != IMPLIED
            and self._type(k) == DIR
        }  # fmt: skip
        self.reset = reset
        if reset:
            within = _Within(reset)
            kept = {p: k for p, k in kept.items() if not within(p)}
        for path, ref in final.items():
            if ref == IMPLIED:
                k = kept.get(path)
                if k is not None and self._type(k) == DIR:
                    not_written.append(path)
                else:
                    implied.append(path)
                    if k is not None:  # a file or symlink of the kept layers is in its place
                        replaced.add(path)
                continue
            if ref >> SHIFT < keep:
                not_written.append(path)
                continue
            t = self._type(ref)
            if t == HARDLINK:
                hardlinks.append((path, ref))
                continue
            k = kept.get(path)
            if k is not None and k != IMPLIED and ref not in targets and self._same(ref, k):
                not_written.append(path)
                continue
            pos, row = unpack(ref)
            link = self.layers[pos].links.get(row) if t == SYMLINK else None
            plain.append(Member(path, t, ref, ref if t == FILE else None, link))
        links = self._hardlinks(hardlinks)
        written = {m.path for m in plain} | {m.path for m in links}
        made = self._implied_dirs(implied, written, replaced)
        if not markers:
            return plain + made + links
        marks = self._markers(not_written)
        # a hardlink that named no file in its layer (no engine extracts one) must name none
        # here either: where the final filesystem has a file at its link (written by this
        # layer), it goes before the files, and what the kept layers have there is whited
        # out first; elsewhere it goes last
        early: set[str] = set()
        for m in links:
            if m.dangling and self._names_file(final, m.link or ""):
                early.add(m.path)
                if self._names_file(kept, m.link or ""):
                    marks.append(Member(m.link or "", WHITEOUT, None, None, None))
        return _ordered(self.layers, marks, plain + made, links, early)

    def _names_file(self, view: dict[str, int], path: str) -> bool:
        """Whether a hardlink to `path` would name a file in `view`."""
        ref = view.get(path)
        if ref is None or ref == IMPLIED:
            return False
        t = self._type(ref)
        return t == FILE or (t == HARDLINK and ref in self.a.hardlink_targets)

    def _same(self, ref: int, other: int) -> bool:
        """Whether two entries are alike in everything the final filesystem shows."""
        p1, r1 = unpack(ref)
        p2, r2 = unpack(other)
        a, b = self.layers[p1], self.layers[p2]
        t = a.types[r1]
        if t != b.types[r2]:
            return False
        if (
            a.modes[r1] & PERMS != b.modes[r2] & PERMS
            or a.uids[r1] != b.uids[r2]
            or a.gids[r1] != b.gids[r2]
            or a.mtimes[r1] != b.mtimes[r2]
            or a.links.get(r1) != b.links.get(r2)
        ):
            return False
        if t == FILE and (a.sizes[r1] != b.sizes[r2] or a.digest_at(r1) != b.digest_at(r2)):
            return False
        return _extras(a, r1) == _extras(b, r2)

    def _hardlinks(self, hardlinks: list[tuple[str, int]]) -> list[Member]:
        """Each final hardlink of the squashed layers: to its target's final path where the
        final filesystem shows the target; where it does not (the target was removed, a
        hardlink keeps its bytes), the first hardlink of the group becomes the file and the
        others link to it."""
        a = self.a
        out: list[Member] = []
        first: dict[int, str] = {}
        for path, ref in sorted(hardlinks):
            pos, row = unpack(ref)
            target = a.hardlink_targets.get(ref)
            if target is None:  # names nothing the layers hold: as it was written
                link = self.layers[pos].links.get(row)
                out.append(Member(path, HARDLINK, ref, None, link, dangling=True))
                continue
            where = a.real_path(target)
            if a.final.get(where) == target:
                out.append(Member(path, HARDLINK, ref, None, where))
            elif target in first:
                out.append(Member(path, HARDLINK, ref, None, first[target]))
            else:
                first[target] = path
                out.append(Member(path, FILE, ref, target, None))
        return out

    def _implied_dirs(
        self, implied: list[str], written: set[str], replaced: set[str]
    ) -> list[Member]:
        """A plain directory for each implied one nothing written under it implies, and for
        each in the place of a kept non-directory (a symlink there would lead what is written
        under it elsewhere in an applier that follows lower symlinks, and a plain file there
        makes some appliers fail: an entry of its own replaces it in every one)."""
        under: set[str] = set()  # directories something written lies under
        for p in written:
            while (i := p.rfind("/")) >= 0:
                p = p[:i]
                if p in under:
                    break
                under.add(p)
        made = []
        for p in sorted(implied, reverse=True):  # deepest first: a made one implies its parents
            if p in under and p not in replaced:
                continue
            made.append(Member(p, DIR, None, None, None))
            while (i := p.rfind("/")) >= 0:
                p = p[:i]
                if p in under:
                    break
                under.add(p)
        return made

    def _markers(self, not_written: list[str]) -> list[Member]:
        """Whiteouts for what the kept layers show and the final filesystem does not (the top
        of each removed subtree), or an opaque marker where shorter."""
        final, kept = self.a.final, self.kept
        gone = sorted(self.reset)
        within = _Within(self.reset)
        for path in kept:
            if path in final or (self.reset and within(path)):
                continue
            i = path.rfind("/")
            parent = path[:i] if i >= 0 else ""
            if parent == "" or (parent in final and self._type(final[parent]) == DIR):
                gone.append(path)
        if len(gone) < 2:
            return [Member(p, WHITEOUT, None, None, None) for p in sorted(gone)]
        # a directory can be made opaque when every final entry under it is written: nothing
        # there is left to the kept layers
        blocked: set[str] = set()
        for p in not_written:
            _ancestors_into(p, blocked)
        by_top: dict[str, list[str]] = {}
        for q in gone:
            top = None
            for anc in _ancestors_top_down(q):
                if anc in blocked:
                    continue
                top = anc  # a directory of both (an ancestor of what `gone` holds)
                break
            by_top.setdefault(top if top is not None else "\0" + q, []).append(q)
        out: list[Member] = []
        for top, qs in by_top.items():
            if top.startswith("\0") or len(qs) < 2:
                out.extend(Member(q, WHITEOUT, None, None, None) for q in qs)
            else:
                out.append(Member(top, OPAQUE, None, None, None))
        return out


class _Within:
    """Whether a path is one of `dirs` or lies under one: each directory's answer is worked
    out once (from its parent's), so a million paths cost a million lookups."""

    def __init__(self, dirs: set[str]) -> None:
        self.dirs = dirs
        self.memo: dict[str, bool] = {"": "" in dirs}

    def __call__(self, path: str) -> bool:
        if path in self.dirs:
            return True
        i = path.rfind("/")
        return self._dir(path[:i] if i >= 0 else "")

    def _dir(self, d: str) -> bool:
        memo = self.memo
        found = memo.get(d)
        if found is not None:
            return found
        chain = []
        while (found := memo.get(d)) is None:
            chain.append(d)
            i = d.rfind("/")
            d = d[:i] if i >= 0 else ""
        for c in reversed(chain):
            found = found or c in self.dirs
            memo[c] = found
        return found


def _ancestors_into(path: str, into: set[str]) -> None:
    """Add every proper ancestor of `path` (the root "" included) to `into`."""
    into.add("")
    while (i := path.rfind("/")) >= 0:
        path = path[:i]
        if path in into:
            return
        into.add(path)


def _ancestors_top_down(path: str) -> Iterator[str]:
    """The proper ancestors of `path`, the root ("") first."""
    yield ""
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def _extras(li: LayerIndex, row: int) -> tuple:
    """What an entry's rare fields say of it: device numbers and xattrs (overlay's aside)."""
    extra = li.extras.get(row) or {}
    xattrs = extra.get("xattrs") or {}
    return (
        extra.get("devmajor") if li.types[row] in (CHAR, BLOCK) else None,
        extra.get("devminor") if li.types[row] in (CHAR, BLOCK) else None,
        tuple(sorted((k, v) for k, v in xattrs.items() if k not in OVERLAY_XATTRS)),
    )


def member_xattrs(li: LayerIndex, row: int) -> dict[str, bytes]:
    """The xattrs a member written from this row carries (overlay's markers aside)."""
    xattrs = (li.extras.get(row) or {}).get("xattrs") or {}
    return {k: v for k, v in xattrs.items() if k not in OVERLAY_XATTRS}


def _ordered(layers: Sequence[LayerIndex], marks: list[Member], plain: list[Member],
             links: list[Member], early: set[str]) -> list[Member]:  # fmt: skip
    """The members in tar order: markers first (an applier that removes as it reads them must
    not remove what this layer writes), directories by path (parents before children), other
    non-files by path, regular files by the layer and offset their bytes lie at (one pass over
    each source blob), hardlinks last (after their targets)."""
    dirs = sorted((m for m in plain if m.type == DIR), key=lambda m: m.path)
    files = [m for m in plain if m.type == FILE]
    files.sort(key=lambda m: (m.content >> SHIFT, _offset(layers, m.content)))  # type: ignore[operator]
    others = sorted((m for m in plain if m.type not in (DIR, FILE)), key=lambda m: m.path)
    hard_files = [m for m in links if m.type == FILE]
    hard_files.sort(key=lambda m: (m.content >> SHIFT, _offset(layers, m.content)))  # type: ignore[operator]
    # hardlinks that named no file: those in `early` before the files, the others last
    dangling = sorted((m for m in links if m.dangling), key=lambda m: m.ref or 0)
    first = [m for m in dangling if m.path in early]
    last = [m for m in dangling if m.path not in early]
    named = [m for m in links if m.type != FILE and not m.dangling]
    marks = sorted(marks, key=lambda m: m.path)
    return marks + dirs + others + first + files + hard_files + named + last


def _offset(layers: Sequence[LayerIndex], ref: int | None) -> int:
    assert ref is not None
    pos, row = unpack(ref)
    return layers[pos].offsets[row]


def squashed_index(image: Image, members: list[Member]) -> LayerIndex:
    """The squashed layer's index as layerscope reads the written layer back (data offsets
    aside): what `plan` analyses to announce the figures."""
    layers = [ly.index for ly in image.layers]
    li = LayerIndex.empty()
    for m in members:
        if m.type in (WHITEOUT, OPAQUE):
            li.add(m.path, m.type, 0, 0, 0, 0, 0, 0, 0)
            continue
        if m.ref is None:  # a made directory
            li.add(m.path, DIR, 0, 0, DEFAULT_DIR_MODE, 0, 0, 0, 0)
            continue
        pos, row = unpack(m.ref)
        src = layers[pos]
        size, digest = 0, NO_DIGEST
        if m.type == FILE:
            assert m.content is not None
            cpos, crow = unpack(m.content)
            size, digest = layers[cpos].sizes[crow], layers[cpos].digest_at(crow)
        extra: dict = {}
        if m.type in (CHAR, BLOCK):
            e = src.extras.get(row) or {}
            extra = {"devmajor": e.get("devmajor", 0), "devminor": e.get("devminor", 0)}
        xattrs = member_xattrs(src, row)
        if xattrs:
            extra["xattrs"] = xattrs
        li.add(m.path, m.type, 0, size, src.modes[row] & PERMS, src.uids[row], src.gids[row],
               src.mtimes[row], 0, digest, m.link, extra or None)  # fmt: skip
    return li
