"""The union filesystem, layer by layer (docs/formats.md 15-23), built incrementally, as
overlay-based storage applies layers (each layer's entries at their own paths) or, with
`follow`, through the symlinks of lower layers (the README's "How layers are applied").

One pass over every entry of every layer decides, for each entry:
  - how it compares with what the layers below showed at its path (added, modified, metadata,
    rewritten),
  - whether the final filesystem shows it, and if not, which layer hid it and how.
Because an entry once hidden never comes back, "visible as of layer N" is simply "stored in a layer
<= N and not hidden by a layer <= N": one pass serves every layer's view, with no per-layer copy.

Entries are named by packed references (analysis.py: `pack(layer position, row)`).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Sequence

from layerscope.limits import DEFAULT_LIMITS
from layerscope.model.analysis import IMPLIED, MASK, SHIFT, VISIBLE, Analysis, pack, unpack
from layerscope.model.kinds import NO_STATUS, How, Kind
from layerscope.read.records import F_ALSO_OPAQUE, F_META, EntryType, LayerIndex

# How layers are applied (`--apply`): as overlay-based storage does (Docker's overlay2,
# containerd's overlayfs snapshotter, podman's overlay driver: each layer extracted into a
# directory of its own), or following the symlinks of lower layers (podman's vfs driver, umoci).
OVERLAY, FOLLOW = "overlay", "follow"
APPLY_MODES = (OVERLAY, FOLLOW)

PATH_MAX = 4096  # as Linux: longest path a walk may build, and most steps it may take

# Short names for the walk's loops, as plain ints: an enum member stored into a bytearray or
# compared in the hottest loop costs a call to its __index__/__eq__ each time.
ADDED, MODIFIED, METADATA, REWRITTEN = (
    int(Kind.ADDED),
    int(Kind.MODIFIED),
    int(Kind.METADATA),
    int(Kind.REWRITTEN),
)
# the entry types too (the types column holds plain ints)
DIR, FILE, SYMLINK, HARDLINK = (
    int(EntryType.DIR),
    int(EntryType.FILE),
    int(EntryType.SYMLINK),
    int(EntryType.HARDLINK),
)
WHITEOUT, OPAQUE = int(EntryType.WHITEOUT), int(EntryType.OPAQUE)
OVERWRITTEN, TYPE_CHANGE, PARENT_REPLACED = (
    int(How.OVERWRITTEN),
    int(How.TYPE_CHANGE),
    int(How.PARENT_REPLACED),
)


def _parent(path: str) -> str:
    i = path.rfind("/")
    return path[:i] if i >= 0 else ""


class _Union:
    """The mutable state of the walk."""

    def __init__(self, layers: Sequence[LayerIndex], max_hops: int, follow: bool = False) -> None:
        self.layers = layers
        self.max_hops = max_hops
        self.follow = follow  # place entries through lower layers' symlinks (else: overlay)
        self.own_links: set[str] = set()  # symlinks the layer being applied made (real paths)
        self.own_cache: dict[str, str] = {}  # resolve() through own_links only
        self.own_dirs: frozenset[str] | None = None  # its directory entries, once asked for
        self.through_symlink: set[int] = set()  # refs the other semantics would place elsewhere
        self.fs: dict[str, int] = {}  # real path -> ref or IMPLIED
        self.children: dict[str, list[str]] = {}  # dir path -> child paths (may hold stale names)
        self.symlinks: set[str] = set()  # real paths in fs that are symlinks
        self.resolve_cache: dict[str, str] = {}
        self.status = [bytearray([NO_STATUS]) * len(li) for li in layers]
        self.hidden_by = [array("i", [VISIBLE]) * len(li) for li in layers]
        self.how = [bytearray(len(li)) for li in layers]  # 0: visible
        self.removed = [0] * len(layers)
        self.real_paths: dict[int, str] = {}
        self.hardlink_targets: dict[int, int] = {}
        self.below: dict[int, int] = {}
        self.current = 0
        self.lower_view: dict[str, int | None] = {}

    # -- the tree -------------------------------------------------------------------------
    def _type(self, ref: int) -> int:
        if ref == IMPLIED:
            return DIR
        layer, row = unpack(ref)
        t = self.layers[layer].types[row]
        return t

    def _note_lower(self, path: str) -> None:
        if path not in self.lower_view:
            self.lower_view[path] = self.fs.get(path)

    def _hide(self, ref: int, how: int) -> None:
        if ref == IMPLIED:
            return
        layer, row = unpack(ref)
        if self.hidden_by[layer][row] == VISIBLE:
            self.hidden_by[layer][row] = self.current
            self.how[layer][row] = how

    def _remove_subtree(self, path: str, how_top: int, how_below: int) -> int:
        """Take `path` and everything under it out of the tree; returns the paths removed."""
        ref = self.fs.get(path)
        if ref is None:
            return 0
        self._note_lower(path)
        del self.fs[path]
        self._hide(ref, how_top)
        if path in self.symlinks:
            self._unlink(path)
        count = 1
        stack = [path]
        while stack:
            d = stack.pop()
            kids = self.children.pop(d, None)
            if not kids:
                continue
            for k in kids:
                kref = self.fs.get(k)
                if kref is None:
                    continue
                self._note_lower(k)
                del self.fs[k]
                self._hide(kref, how_below)
                if k in self.symlinks:
                    self._unlink(k)
                count += 1
                stack.append(k)
        return count

    def _ensure_parents(self, path: str) -> None:
        """Imply missing parent directories (docs/formats.md 21); a non-directory in the way is
        replaced by the implied directory."""
        parent = _parent(path)
        chain = []
        while parent:
            ref = self.fs.get(parent)
            if ref is not None:
                if self._type(ref) == DIR:
                    break
                self._remove_subtree(parent, TYPE_CHANGE, PARENT_REPLACED)
            chain.append(parent)
            parent = _parent(parent)
        for p in reversed(chain):
            self._note_lower(p)
            self.fs[p] = IMPLIED
            self.children.setdefault(_parent(p), []).append(p)

    def _unlink(self, path: str) -> None:
        """`path` is no longer a symlink of the union."""
        self.symlinks.discard(path)
        self.own_links.discard(path)
        self.resolve_cache.clear()
        self.own_cache.clear()

    def resolve(self, path: str) -> str:
        """Where the layer being applied places `path`: overlay-based storage extracts each
        layer into a directory of its own, so only that layer's own symlinks are followed
        (`follow`: every symlink of the union, as podman's vfs driver and umoci do)."""
        if self.follow:
            return self._resolve(path, self.symlinks, self.resolve_cache)
        return self._resolve(path, self.own_links, self.own_cache)

    def elsewhere(self, path: str, placed: str, ref: int) -> None:
        """Note `ref` if the other semantics would place `path` somewhere else than `placed`."""
        if self.follow:
            other = self._resolve(path, self.own_links, self.own_cache)
        else:
            other = self._resolve(path, self.symlinks, self.resolve_cache)
        if other != placed:
            self.through_symlink.add(ref)

    def _is_own_dir(self, path: str) -> bool:
        """Whether the layer being applied has a directory entry at `path`: where a lower
        symlink stood, that directory replaces it, and the layer's markers act there (not where
        the old symlink pointed)."""
        if self.own_dirs is None:
            li = self.layers[self.current]
            types, paths = li.types, li.paths
            self.own_dirs = frozenset(paths[r] for r in range(len(paths)) if types[r] == DIR)
        return path in self.own_dirs

    def _resolve(self, path: str, links: set[str], cache: dict[str, str]) -> str:
        """The real path of `path`: its parent components followed through `links` inside the
        image root (absolute targets are relative to the root), at most max_hops symlinks."""
        if not links:
            return path
        i = path.rfind("/")
        if i < 0:
            return path
        parent, name = path[:i], path[i + 1 :]
        cached = cache.get(parent)
        if cached is None:
            cached = self._resolve_dir(parent, links)
            cache[parent] = cached
        return f"{cached}/{name}" if cached else name

    def _resolve_dir(self, path: str, links: set[str]) -> str:
        """Walk `path` component by component, following symlinks as the kernel would inside a
        chroot: `..` stops at the root, absolute targets restart from it. A walk that follows more
        than max_hops symlinks (a loop), or that would take over PATH_MAX steps or build a path
        longer than PATH_MAX bytes (ELOOP, ENAMETOOLONG) resolves to nothing: the name is kept as
        written. Each step costs O(1) work plus one string of at most PATH_MAX bytes."""
        parts = deque(path.split("/"))
        done: list[str] = []  # the resolved path so far, as its prefixes: done[-1] is all of it
        hops = steps = 0
        while parts:
            steps += 1
            if steps > PATH_MAX:
                return path
            part = parts.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            cand = f"{done[-1]}/{part}" if done else part
            if len(cand) > PATH_MAX:
                return path
            if cand in links and not self._is_own_dir(cand):  # a directory of this layer wins
                hops += 1
                if hops > self.max_hops:
                    return path  # a loop: keep the name as written
                layer, row = unpack(self.fs[cand])
                target = self.layers[layer].links.get(row, "")
                if target.startswith("/"):
                    done = []
                parts.extendleft(reversed(target.split("/")))
                continue
            done.append(cand)
        return done[-1] if done else ""

    # -- one layer ------------------------------------------------------------------------
    def apply(self, pos: int) -> None:
        li = self.layers[pos]
        self.current = pos
        self.lower_view = {}
        types, flags, paths = li.types, li.flags, li.paths
        n = len(paths)
        self.own_links = set()
        self.own_cache = {}
        self.own_dirs = None  # made when a walk meets a symlink (_is_own_dir)
        self.resolve_cache.clear()
        # 1. whiteouts and opaque markers act on the layers below only, wherever they stand.
        markers = [
            r
            for r in range(n)
            if types[r] in (WHITEOUT, OPAQUE) or (types[r] == DIR and flags[r] & F_ALSO_OPAQUE)
        ]
        for r in markers:
            if flags[r] & F_META:
                continue
            if types[r] == WHITEOUT:
                path = self.resolve(paths[r])  # `dir/.wh.NAME`: dir is followed, NAME is not
                self._note_elsewhere(paths[r], path, pack(pos, r))
                self._layer_dir(path)
                self.removed[pos] += self._remove_subtree(path, How.WHITEOUT, How.PARENT_WHITEOUT)
            elif types[r] == OPAQUE:
                # `dir/.wh..wh..opq` lies inside dir: dir is followed like any parent
                inside = paths[r] + "/.wh..wh..opq"
                placed = self.resolve(inside)
                self._note_elsewhere(inside, placed, pack(pos, r))
                path = placed[: -len("/.wh..wh..opq")]
                self._layer_dir(path + "/.wh..wh..opq")
                self._clear_dir(path, pos)
            else:  # a directory entry carrying the opaque xattr: it is the directory itself
                path = self.resolve(paths[r])
                self._note_elsewhere(paths[r], path, pack(pos, r))
                self._clear_dir(path, pos)
            if path != paths[r]:  # where the marker acted, for the views
                self.real_paths[pack(pos, r)] = path
        # 2. everything else, in tar order; a later entry at the same path wins.
        status = self.status[pos]
        for r in range(n):
            t = types[r]
            if t in (WHITEOUT, OPAQUE) or flags[r] & F_META:
                continue
            self._add(pos, r, t, paths[r], status)

    def _note_elsewhere(self, path: str, placed: str, ref: int) -> None:
        if self.symlinks:
            self.elsewhere(path, placed, ref)

    def _layer_dir(self, path: str) -> None:
        """Overlay storage: a marker lies in directories of its layer's own, which replace any
        non-directory (a lower symlink, a file) standing at one of their paths."""
        if self.follow:
            return
        parent = _parent(path)
        while parent:
            ref = self.fs.get(parent)
            if ref is not None and self._type(ref) != DIR:
                self._ensure_parents(path)
                return
            parent = _parent(parent)

    def _clear_dir(self, path: str, pos: int) -> None:
        ref = self.fs.get(path) if path else IMPLIED
        if ref is None or self._type(ref) != DIR:
            return
        kids = self.children.get(path, [])
        keep = []
        for k in list(dict.fromkeys(kids)):
            kref = self.fs.get(k)
            if kref is None:
                continue
            if kref != IMPLIED and unpack(kref)[0] == pos:
                keep.append(k)
                continue
            self.removed[pos] += self._remove_subtree(k, How.OPAQUE, How.OPAQUE)
        self.children[path] = keep

    def _add(self, pos: int, row: int, t: int, path: str, status: bytearray) -> None:
        # the hottest code of the analysis: the common cases are inlined
        ref = (pos << SHIFT) | row
        if self.symlinks:  # where each way of applying layers puts it
            anywhere = self._resolve(path, self.symlinks, self.resolve_cache)
            own = self._resolve(path, self.own_links, self.own_cache) if self.own_links else path
            real = anywhere if self.follow else own
            if anywhere != own:
                self.through_symlink.add(ref)
        else:
            real = path
        if real != path:
            self.real_paths[ref] = real
        fs, layers = self.fs, self.layers
        slash = real.rfind("/")
        parent = real[:slash] if slash >= 0 else ""
        if parent:
            pref = fs.get(parent)
            if pref is None or (
                pref != IMPLIED and layers[pref >> SHIFT].types[pref & MASK] != DIR
            ):
                self._ensure_parents(real)
        old = fs.get(real)
        lower = self.lower_view
        if real not in lower:
            lower[real] = old  # what the layers below showed here
        if old is not None:
            old_t = DIR if old == IMPLIED else layers[old >> SHIFT].types[old & MASK]
            if old_t == DIR and t == DIR:
                self._hide(old, OVERWRITTEN)  # directories merge: only the metadata is replaced
            elif old_t == DIR:
                self._remove_subtree(real, TYPE_CHANGE, PARENT_REPLACED)
                old = None
            else:
                self._hide(old, OVERWRITTEN if old_t == t else TYPE_CHANGE)
                if real in self.symlinks:
                    self._unlink(real)
        if real not in fs:
            self.children.setdefault(parent, []).append(real)
        fs[real] = ref
        if t == SYMLINK:
            self.symlinks.add(real)
            self.own_links.add(real)
            self.resolve_cache.clear()
            self.own_cache.clear()
        elif t == HARDLINK:
            self._link(ref, pos, row)
        below = lower[real]
        if below is None:
            status[row] = ADDED
        else:
            self.below[ref] = below
            status[row] = self._compare(ref, t, below)

    def _link(self, ref: int, pos: int, row: int) -> None:
        target = self.layers[pos].links.get(row, "")
        tref = self.fs.get(self.resolve(target)) if target else None
        if tref is None or tref == IMPLIED:
            return
        tref = self.hardlink_targets.get(tref, tref)
        tl, tr = unpack(tref)
        if self.layers[tl].types[tr] == FILE:
            self.hardlink_targets[ref] = tref

    def _compare(self, ref: int, t: int, below: int | None) -> int:
        if below is None:
            return ADDED
        if below == IMPLIED:
            return METADATA if t == DIR else MODIFIED
        if self._key(ref) != self._key(below):
            return MODIFIED
        layer, row = unpack(ref)
        bl, br = unpack(below)
        return (
            METADATA if _meta_differs(self.layers[layer], row, self.layers[bl], br) else REWRITTEN
        )

    def _key(self, ref: int) -> tuple:
        """What an entry holds, metadata aside: a hardlink holds its target file's content."""
        layer, row = unpack(ref)
        li = self.layers[layer]
        t = li.types[row]
        if t == HARDLINK:
            target = self.hardlink_targets.get(ref)
            if target is None:
                return (HARDLINK, li.links.get(row))
            layer, row = unpack(target)
            li, t = self.layers[layer], FILE
        if t == FILE:
            return (FILE, li.digest_at(row))
        if t == SYMLINK:
            return (SYMLINK, li.links.get(row))
        extra = li.extras.get(row) or {}
        return (t, extra.get("devmajor"), extra.get("devminor"))


def _meta_differs(a: LayerIndex, ra: int, b: LayerIndex, rb: int) -> bool:
    return (
        (a.modes[ra] & 0o7777) != (b.modes[rb] & 0o7777)
        or a.uids[ra] != b.uids[rb]
        or a.gids[ra] != b.gids[rb]
    )


def analyse(
    layers: Sequence[LayerIndex],
    max_symlink_hops: int = DEFAULT_LIMITS.max_symlink_hops,
    follow: bool = False,
) -> Analysis:
    """Walk the layers bottom to top once and return what the union shows: as overlay-based
    storage shows it (each layer's entries at their own paths), or with `follow` as an applier
    that follows the symlinks of lower layers shows it (podman's vfs driver, umoci)."""
    u = _Union(layers, max_symlink_hops, follow)
    for pos in range(len(layers)):
        u.apply(pos)
    a = Analysis(
        layers=layers,
        status=u.status,
        hidden_by=u.hidden_by,
        how=u.how,
        removed=u.removed,
        final=u.fs,
        real_paths=u.real_paths,
        hardlink_targets=u.hardlink_targets,
        below=u.below,
        through_symlink=u.through_symlink,
    )
    for h, f in u.hardlink_targets.items():
        hl, hr = unpack(h)
        fl, fr = unpack(f)
        if a.hidden_by[hl][hr] == VISIBLE and a.hidden_by[fl][fr] != VISIBLE:
            a.kept.add(f)
    return a
