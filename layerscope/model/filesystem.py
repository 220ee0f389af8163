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
from collections.abc import Callable, Sequence

from layerscope.limits import DEFAULT_LIMITS
from layerscope.model.analysis import IMPLIED, MASK, SHIFT, VISIBLE, Analysis, pack, unpack
from layerscope.model.gcpause import pausing
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


# a types column holding a marker; a flags column holding F_META or F_ALSO_OPAQUE (translated)
_MARKER_TYPES = (bytes([WHITEOUT]), bytes([OPAQUE]))
_META_OR_OPAQUE = bytes(1 if f & (F_META | F_ALSO_OPAQUE) else 0 for f in range(256))
_FAILED = (-1, 0)  # the state of a walk that failed: its path is kept as written


def _parent(path: str) -> str:
    i = path.rfind("/")
    return path[:i] if i >= 0 else ""


class _Resolver:
    """Where directories lead through one set of symlinks of the union (every symlink, or the
    layer's own), as the kernel walks them inside a chroot (`walk`), memoised by directory: a
    directory is one step on from its parent's walk, so each costs O(1) once its parent is known
    (a million entries, not a million walks from the root). A symlink made or removed where a
    memoised walk looked forgets them all (`changed`); elsewhere it changes none."""

    __slots__ = ("links", "memo", "seen", "state", "union")

    def __init__(self, union: _Union, links: set[str]) -> None:
        self.union = union
        self.links = links
        self.memo: dict[
            str, str
        ] = {}  # directory -> where it leads (as written if the walk failed)
        # directory -> (symlinks followed, steps) of a walk that followed one; _FAILED for one
        # that failed (a plain walk, not here, took one step per component and followed none)
        self.state: dict[str, tuple[int, int]] = {}
        self.seen: set[str] = set()  # paths memoised walks looked up in `links`, but the keys

    def forget(self) -> None:
        """Forget every walk (a new layer: its own directories change what a walk follows)."""
        self.memo.clear()
        self.state.clear()
        self.seen.clear()

    def changed(self, path: str) -> bool:
        """A symlink was made or removed at `path`: forget every walk if one looked there."""
        if path in self.memo or path in self.seen:
            self.forget()
            return True
        return False

    def resolve(self, path: str) -> str:
        """`path` with its parent directories followed (not its last component)."""
        if not self.links:
            return path
        i = path.rfind("/")
        if i < 0:
            return path
        parent = self.resolve_dir(path[:i])
        name = path[i + 1 :]
        return f"{parent}/{name}" if parent else name

    def resolve_dir(self, path: str) -> str:
        """Where the directory `path` (normalised, not empty) leads: every component followed,
        at most `max_hops` symlinks; a walk that follows more (a loop), or takes over PATH_MAX
        steps or builds a path longer than PATH_MAX bytes (ELOOP, ENAMETOOLONG), leads to the
        path as written."""
        memo = self.memo
        found = memo.get(path)
        if found is not None:
            return found
        i = path.rfind("/")
        if i >= 0:  # the common case: the parent's walk is known, took no symlink, and this
            parent = path[:i]  # step meets none
            led = memo.get(parent)
            if led is not None and parent not in self.state and len(path) <= PATH_MAX:
                cand = path if led == parent else f"{led}/{path[i + 1 :]}"
                if cand not in self.links:
                    if cand is not path:
                        self.seen.add(cand)
                    memo[path] = cand
                    return cand
        chain = [path]  # `path` and its ancestors up to the nearest one memoised (or the root)
        d = path
        while (i := d.rfind("/")) >= 0:
            d = d[:i]
            if d in self.memo:
                break
            chain.append(d)
        for d in reversed(chain):
            self._step(d)
        return self.memo[path]

    def _step(self, d: str) -> None:
        """Memoise the walk of `d`, its parent's being memoised."""
        i = d.rfind("/")
        if i >= 0:
            parent, name = d[:i], d[i + 1 :]
            led = self.memo[parent]
            state = self.state.get(parent)
        else:
            parent, name, led, state = "", d, "", None
        if state is _FAILED:
            self._fail(d)
            return
        cand = d if led == parent else (f"{led}/{name}" if led else name)
        if len(cand) > PATH_MAX:  # (a plain walk takes one step per component: fewer)
            self._fail(d)
            return
        if cand in self.links and not self.union._is_own_dir(cand):
            if state is None:  # a plain walk: one step per component so far
                state = (0, parent.count("/") + 1 if parent else 0)
            self._follow(d, led, cand, state[0], state[1] + 1)
            return
        if cand is not d:
            self.seen.add(cand)
        self.memo[d] = cand
        if state is not None:
            hops, steps = state
            if steps + 1 > PATH_MAX:
                self._fail(d)
                return
            self.state[d] = (hops, steps + 1)

    def _fail(self, d: str) -> None:
        self.memo[d] = d
        self.state[d] = _FAILED

    def _follow(self, d: str, led: str, link: str, hops: int, steps: int) -> None:
        """The walk of `d`, whose last component led to the symlink `link` (`led`: where its
        parent led; `hops` symlinks followed and `steps` taken so far, this one included)."""
        seen, links, union = self.seen, self.links, self.union
        seen.add(link)
        if steps > PATH_MAX:
            self._fail(d)
            return
        done: list[str] = []  # the resolved path so far, as its prefixes: done[-1] is all of it
        if led:
            for part in led.split("/"):
                done.append(f"{done[-1]}/{part}" if done else part)
        parts: deque[str] = deque()
        cand: str | None = link
        while True:
            if cand is not None:  # a symlink met: follow it
                hops += 1
                if hops > union.max_hops:
                    self._fail(d)  # a loop: keep the name as written
                    return
                target = union.link_target(cand)
                if target.startswith("/"):
                    done = []
                parts.extendleft(reversed(target.split("/")))
                cand = None
            if not parts:
                break
            steps += 1
            if steps > PATH_MAX:
                self._fail(d)
                return
            part = parts.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            step = f"{done[-1]}/{part}" if done else part
            if len(step) > PATH_MAX:
                self._fail(d)
                return
            seen.add(step)
            if step in links and not union._is_own_dir(step):  # a directory of this layer wins
                cand = step
                continue
            done.append(step)
        self.memo[d] = done[-1] if done else ""
        self.state[d] = (hops, steps)


class _Union:
    """The mutable state of the walk."""

    def __init__(self, layers: Sequence[LayerIndex], max_hops: int, follow: bool = False) -> None:
        self.layers = layers
        self.max_hops = max_hops
        self.follow = follow  # place entries through lower layers' symlinks (else: overlay)
        self.own_links: set[str] = set()  # symlinks the layer being applied made (real paths)
        self.own_dirs: frozenset[str] | None = None  # its directory entries, once asked for
        self.through_symlink: set[int] = set()  # refs the other semantics would place elsewhere
        self.fs: dict[str, int] = {}  # real path -> ref or IMPLIED
        self.children: dict[str, list[str]] = {}  # dir path -> child paths (may hold stale names)
        self.symlinks: set[str] = set()  # real paths in fs that are symlinks
        self.every = _Resolver(self, self.symlinks)  # through every symlink of the union
        self.own = _Resolver(self, self.own_links)  # through the layer's own symlinks only
        # per parent directory of an entry's path: where its entries go (None: there), whether
        # the other way of applying layers puts them elsewhere, its list of children (`_place`)
        self.places: dict[str, tuple[str | None, bool, list[str]]] = {}
        self.cleared = 0  # how often `places` was forgotten
        self.status = [bytearray(len(li)) for li in layers]  # ADDED (0) unless decided otherwise
        self.hidden_by = [array("i", [VISIBLE]) * len(li) for li in layers]
        self.how = [bytearray(len(li)) for li in layers]  # 0: visible
        self.removed = [0] * len(layers)
        self.real_paths: dict[int, str] = {}
        self.hardlink_targets: dict[int, int] = {}
        self.below: dict[int, int] = {}
        self.current = 0
        # what the layers below showed at the paths the layer being applied removed or implied
        # (elsewhere: `_below`)
        self.lower_view: dict[str, int | None] = {}

    def done(self) -> None:
        """Drop what only the walk needs, now (the resolvers point back at the union: a cycle
        the collector, paused while the union is built, would free only later, if at all)."""
        self.children.clear()
        self.places.clear()
        self.every.forget()
        self.own.forget()
        self.lower_view = {}

    # -- the tree -------------------------------------------------------------------------
    def _type(self, ref: int) -> int:
        if ref == IMPLIED:
            return DIR
        layer, row = unpack(ref)
        t = self.layers[layer].types[row]
        return t

    def _note_lower(self, path: str) -> None:
        """Keep what the layers below showed at `path`, before the layer changes it."""
        if path not in self.lower_view:
            self.lower_view[path] = self._below(path, self.fs.get(path))

    def _below(self, path: str, ref: int | None) -> int | None:
        """What the layers below showed at `path`, which shows `ref` now: the layer's own
        entries remember it (`below`), and the paths it removed or implied `lower_view`."""
        lower = self.lower_view
        if lower and path in lower:
            return lower[path]
        if ref is None or ref == IMPLIED or ref >> SHIFT != self.current:
            return ref
        return self.below.get(ref)

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
        self._forget_places()  # a directory may go
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
        self._ensure_dir(_parent(path))

    def _ensure_dir(self, parent: str) -> None:
        """Make `parent` a directory of the union (`_ensure_parents`)."""
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
        self._links_changed(path)

    def _links_changed(self, path: str) -> None:
        """A symlink was made or removed at `path`: forget the walks that looked there (and the
        places made before the union, or the layer, had a symlink, which no walk looked for)."""
        first = len(self.symlinks) == 1 or len(self.own_links) == 1
        if self.every.changed(path) | self.own.changed(path) or first:
            self._forget_places()

    def resolve(self, path: str) -> str:
        """Where the layer being applied places `path`: overlay-based storage extracts each
        layer into a directory of its own, so only that layer's own symlinks are followed
        (`follow`: every symlink of the union, as podman's vfs driver and umoci do)."""
        return (self.every if self.follow else self.own).resolve(path)

    def elsewhere(self, path: str, placed: str, ref: int) -> None:
        """Note `ref` if the other semantics would place `path` somewhere else than `placed`."""
        other = (self.own if self.follow else self.every).resolve(path)
        if other != placed:
            self.through_symlink.add(ref)

    def _place(self, parent: str) -> tuple[str | None, bool, list[str]]:
        """Where the entries of the layer being applied whose path lies in `parent` go (None:
        there), whether the other way of applying layers puts them elsewhere, and the list of
        children of that directory, which is made a directory of the union if it is not one.
        Kept until the union loses a path (a directory may go) or a symlink (`places`)."""
        if self.symlinks and parent:
            every = self.every.resolve_dir(parent)
            # the layer's own symlinks are some of them: a walk that met none meets none of those
            plain = every == parent and parent not in self.every.state
            own = self.own.resolve_dir(parent) if self.own_links and not plain else parent
            real = every if self.follow else own
            through = every != own
        else:
            real, through = parent, False
        keep = True
        if real:
            ref = self.fs.get(real)
            if ref is None or (ref != IMPLIED and self._type(ref) != DIR):
                cleared = self.cleared
                self._ensure_dir(real)
                # a non-directory in the way went (a symlink, maybe): true for this entry, which
                # the layer places as things stood, but perhaps not for the next ones
                keep = cleared == self.cleared
        kids = self.children.get(real)
        if kids is None:
            kids = self.children[real] = []
        place = (None if real == parent else real, through, kids)
        if keep:
            self.places[parent] = place
        return place

    def _forget_places(self) -> None:
        """The union lost a path or a symlink: what `_place` knew may be wrong now."""
        self.places.clear()
        self.cleared += 1

    def _is_own_dir(self, path: str) -> bool:
        """Whether the layer being applied has a directory entry at `path`: where a lower
        symlink stood, that directory replaces it, and the layer's markers act there (not where
        the old symlink pointed)."""
        if self.own_dirs is None:
            li = self.layers[self.current]
            types, paths = li.types, li.paths
            self.own_dirs = frozenset(paths[r] for r in range(len(paths)) if types[r] == DIR)
        return path in self.own_dirs

    def link_target(self, path: str) -> str:
        """The target of the symlink at `path` in the union."""
        layer, row = unpack(self.fs[path])
        return self.layers[layer].links.get(row, "")

    # -- one layer ------------------------------------------------------------------------
    def apply(self, pos: int) -> None:
        li = self.layers[pos]
        self.current = pos
        self.lower_view = {}
        types, flags, paths = li.types, li.flags, li.paths
        n = len(paths)
        self.own_links.clear()
        self.own.forget()
        self.every.forget()
        self.places.clear()
        self.own_dirs = None  # made when a walk meets a symlink (_is_own_dir)
        status = self.status[pos]
        # 1. whiteouts and opaque markers act on the layers below only, wherever they stand.
        markers: list[int] = []
        skip: set[int] = set()  # rows the union ignores: markers and metadata entries
        if _MARKER_TYPES[0] in types or _MARKER_TYPES[1] in types:
            markers = [r for r in range(n) if types[r] == WHITEOUT or types[r] == OPAQUE]
            skip.update(markers)
        if flags.translate(_META_OR_OPAQUE).strip(b"\0"):
            skip.update(r for r in range(n) if flags[r] & F_META)
            also = [r for r in range(n) if types[r] == DIR and flags[r] & F_ALSO_OPAQUE]
            markers = sorted({*markers, *also})
        for r in skip:
            status[r] = NO_STATUS
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
        self._add_all(pos, li, skip)

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
        self._forget_places()  # places may hold the list of children it had

    def _add_all(self, pos: int, li: LayerIndex, skip: set[int]) -> None:
        """Step 2 of `apply`: each entry but the rows in `skip`, in tar order. The hottest code
        of the analysis: what an entry's directory needs (where it lies, that it is there, its
        list of children) is known once per directory (`_place`), so the common case is two
        dict lookups and an append."""
        status = self.status[pos]
        fs, places, layer_types = self.fs, self.places, self.types
        real_paths, through_symlink, symlinks = self.real_paths, self.through_symlink, self.symlinks
        base = pos << SHIFT
        for row, (path, t) in enumerate(zip(li.paths, li.types, strict=True)):
            if skip and row in skip:
                continue
            ref = base | row
            slash = path.rfind("/")
            parent = path[:slash] if slash >= 0 else ""
            place = places.get(parent)
            if place is None:
                place = self._place(parent)
            moved, through, kids = place
            if moved is None:
                real = path
            else:  # where the symlinks of the way of applying layers put it
                real = f"{moved}/{path[slash + 1 :]}" if moved else path[slash + 1 :]
                real_paths[ref] = real
            if through:
                through_symlink.add(ref)
            old = fs.get(real)
            below = self._below(real, old) if old is not None or self.lower_view else None
            if old is not None:
                old_t = DIR if old == IMPLIED else layer_types[old >> SHIFT][old & MASK]
                if old_t == DIR and t == DIR:
                    self._hide(old, OVERWRITTEN)  # directories merge: only the metadata goes
                elif old_t == DIR:
                    self._remove_subtree(real, TYPE_CHANGE, PARENT_REPLACED)
                    old = None
                else:
                    self._hide(old, OVERWRITTEN if old_t == t else TYPE_CHANGE)
                    if real in symlinks:
                        self._unlink(real)
            if old is None:
                kids.append(real)
            fs[real] = ref
            if t == SYMLINK:
                symlinks.add(real)
                self.own_links.add(real)
                self._links_changed(real)
            elif t == HARDLINK:
                self._link(ref, pos, row)
            if below is not None:
                self.below[ref] = below
                status[row] = self._compare(ref, t, below)

    @property
    def types(self) -> list[bytearray]:
        """The types column of each layer, by position."""
        return [li.types for li in self.layers]

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


@pausing
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
    return _finished(u)


@pausing
def analyse_over(
    layers: Sequence[LayerIndex],
    top: Callable[[dict[str, int]], LayerIndex],
    max_symlink_hops: int = DEFAULT_LIMITS.max_symlink_hops,
    follow: bool = False,
) -> tuple[LayerIndex, Analysis]:
    """`analyse` of `layers` and one more layer on them, made by `top` from what `layers`
    show (a copy of their union: real path -> ref, IMPLIED for implied directories): the layer
    and the analysis of all, the lower layers walked once (write/plan.py: a layer made to
    follow others)."""
    u = _Union([*layers, LayerIndex.empty()], max_symlink_hops, follow)
    for pos in range(len(layers)):
        u.apply(pos)
    made = top(dict(u.fs))
    n = len(made)
    u.layers = [*layers, made]
    u.status[-1] = bytearray(n)
    u.hidden_by[-1] = array("i", [VISIBLE]) * n
    u.how[-1] = bytearray(n)
    u.apply(len(layers))
    return made, _finished(u)


def _finished(u: _Union) -> Analysis:
    """The analysis of a union whose layers are all applied."""
    u.done()
    a = Analysis(
        layers=u.layers,
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
