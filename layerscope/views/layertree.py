"""One layer's entries as a tree of directories, made once per layer from the model's columns:
the directory each entry lies in, each directory's entries and subdirectories, and the last
directory entry stored at each directory's path. The file tree's views (treeview.py) list a
directory from it in O(its children), whatever the size of the layer.

A directory here is a path some entry lies below, or a directory entry's own path: "implied"
when the layer has no directory entry of its own there. Entries are placed at their path, or at
the path `places` gives (where the analysis follows a symlinked parent directory). Metadata
entries and opaque markers lie in no directory; whiteouts do (a view made before the analysis
shows them).

Everything is held in arrays (a few bytes per entry and per directory), plus one dict of the
directory paths; built in O(entries), at C speed a chunk of rows at a time (`CHUNK`), so a
thread building one never holds the interpreter for long.
"""

from __future__ import annotations

import threading
import weakref
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from itertools import accumulate, compress, groupby, repeat
from operator import add, is_
from typing import Any

from layerscope.errors import Cancelled
from layerscope.read.records import DIR, F_ALSO_OPAQUE, F_META, OPAQUE, WHITEOUT, LayerIndex

CancelFn = Callable[[], bool]  # asked now and then while building: True stops with Cancelled
CHECK = 0x3FFF  # rows between two looks at `cancelled`
CHUNK = 1 << 15  # rows handled at C speed at once (the interpreter held a few ms at most)

ROOT_DIR = 0  # the local id of the root directory ("")
_ALSO_OPAQUE = bytes(1 if f & F_ALSO_OPAQUE and not f & F_META else 0 for f in range(256))
_META = bytes(1 if f & F_META else 0 for f in range(256))
_SPECIAL_TYPE = bytes(1 if t in (DIR, OPAQUE) else 0 for t in range(256))


def parent_path(path: str) -> str:
    """The directory a path lies in ("" for the root's children)."""
    i = path.rfind("/")
    return path[:i] if i >= 0 else ""


class LayerTree:
    """The directories of one layer (local ids from 0, the root; a parent's id is always
    smaller than its children's), with their entries and subdirectories."""

    def __init__(
        self,
        index: LayerIndex,
        places: Mapping[int, str] | None = None,
        *,
        cancelled: CancelFn | None = None,
    ) -> None:
        self.index = index
        self.places: Mapping[int, str] = places or {}
        paths, types, flags = index.paths, index.types, index.flags
        n = len(paths)
        dir_ids: dict[str, int] = {"": ROOT_DIR}
        dir_paths = [""]
        dir_parent = array("i", [-1])
        dir_row = array("i", [-1])  # the last directory entry at the path, -1: implied
        self.dir_ids, self.dir_paths, self.dir_parent, self.dir_row = (
            dir_ids,
            dir_paths,
            dir_parent,
            dir_row,
        )
        # The directory each row lies in, a chunk of rows at a time: their parents' paths
        # made and looked up at C speed, directories missing made as met.
        row_dir = array("i")
        get = dir_ids.get
        for start in range(0, n, CHUNK):
            if cancelled is not None and cancelled():
                raise Cancelled()
            ups = [p.rpartition("/")[0] for p in paths[start : start + CHUNK]]
            ids: list[Any] = list(map(get, ups))
            if None in ids:  # make the missing ones, in the order met, and look up again
                for up in dict.fromkeys(compress(ups, map(is_, ids, repeat(None)))):
                    self._make(up)
                ids = list(map(get, ups))
            row_dir.extend(ids)
        # Rows in no directory (metadata, opaque markers, the root's own entry), directory
        # entries (each makes its own directory), rows placed elsewhere: one by one.
        grouped = array("i", row_dir)  # as row_dir, but -1 where a row is in no bucket
        opaque: list[int] = []
        first_row = array("i", [-1]) * len(dir_row)  # the first directory entry at the path
        special = types.translate(_SPECIAL_TYPE)
        meta = flags.translate(_META)
        for row in set_in(meta):
            row_dir[row] = grouped[row] = -1
        for row in set_in(special):
            if meta[row]:
                continue
            grouped[row] = -1
            if types[row] == OPAQUE:
                opaque.append(row)
                row_dir[row] = -1
                continue
            path = self.places.get(row, paths[row])
            if not path:
                dir_row[ROOT_DIR] = row
                row_dir[row] = -1
                continue
            own = get(path)
            if own is None:
                own = self._make(path)
            dir_row[own] = row
            if own >= len(first_row):
                first_row.extend(repeat(-1, len(dir_row) - len(first_row)))
            if first_row[own] < 0:  # (rows come in order: the first one stays)
                first_row[own] = row
        for row, path in self.places.items():
            if types[row] in (WHITEOUT, OPAQUE) or meta[row]:
                continue
            up = parent_path(path)
            d = get(up)
            row_dir[row] = d if d is not None else self._make(up)
            if types[row] != DIR:
                grouped[row] = row_dir[row]
        self.row_dir = row_dir
        self.opaque_rows = opaque
        # Each directory's entries that are not directories (`files[file_start[d]:
        # file_start[d + 1]]`, in row order), and its subdirectories (`subs`, in id order).
        # (a directory's entries come in runs, mostly: a run at a time, no list per directory)
        runs: dict[int, list[range]] = {}  # the runs of the directories with several
        first_run: dict[int, range] = {}
        for d, run in groupby(range(n), key=grouped.__getitem__):
            if d < 0:
                continue
            start = next(run)
            tail = deque(run, maxlen=1)  # noqa: B031 (the rest of the run: its last row)
            rows = range(start, (tail[0] if tail else start) + 1)
            if d in first_run:
                runs.setdefault(d, [first_run[d]]).append(rows)
            else:
                first_run[d] = rows
        self.files = files = array("i")
        self.file_start = array("i")
        for d in range(len(dir_paths)):
            self.file_start.append(len(files))
            for rows in runs.get(d) or ((first_run[d],) if d in first_run else ()):
                files.extend(rows)
        self.file_start.append(len(files))
        self.subs, self.sub_start = _by_parent(dir_parent)
        first_row.extend(repeat(-1, len(dir_row) - len(first_row)))
        self.dir_first_row = first_row
        # The directories in depth-first order, so that a directory's subtree is a run of
        # them: sums over subtrees are differences of running sums (layerfacts.py).
        order = array("i")
        stack = [ROOT_DIR]
        while stack:
            d = stack.pop()
            order.append(d)
            stack.extend(reversed(self.subs_of(d)))
        self.preorder = order
        at = array("i", [0]) * len(dir_paths)
        for k, d in enumerate(order):
            at[d] = k
        size = array("i", [1]) * len(dir_paths)
        for d in range(len(dir_paths) - 1, 0, -1):
            size[dir_parent[d]] += size[d]
        self.pre_start = at  # where each directory's run starts in `preorder`
        self.pre_end = array("i", map(add, at, size))  # and ends
        self._also_opaque: frozenset[int] | None = None

    def _make(self, path: str) -> int:
        """The directory at `path`, made (with the missing ones above it) if missing."""
        dir_ids = self.dir_ids
        found = dir_ids.get(path)
        if found is not None:
            return found
        missing = [path]
        up = parent_path(path)
        while up not in dir_ids:
            missing.append(up)
            up = parent_path(up)
        made = dir_ids[up]
        for p in reversed(missing):
            parent = made
            made = dir_ids[p] = len(self.dir_paths)
            self.dir_paths.append(p)
            self.dir_parent.append(parent)
            self.dir_row.append(-1)
        return made

    @property
    def also_opaque(self) -> frozenset[int]:
        """The directories one of whose directory entries carries the opaque xattr (found at
        C speed: such entries are rare)."""
        if self._also_opaque is None:
            types = self.index.types
            marked = self.index.flags.translate(_ALSO_OPAQUE)
            found = set()
            at = marked.find(1)
            while at >= 0:
                if types[at] == DIR:
                    d = self.dir_ids.get(self.path_of(at))
                    if d is not None:
                        found.add(d)
                at = marked.find(1, at + 1)
            self._also_opaque = frozenset(found)
        return self._also_opaque

    def __len__(self) -> int:
        """Number of directories, the root included."""
        return len(self.dir_paths)

    def path_of(self, row: int) -> str:
        """Where a row lies: its placed path, else its own."""
        place = self.places.get(row)
        return place if place is not None else self.index.paths[row]

    def files_of(self, d: int) -> array:
        """The rows in directory `d` that are not directories, in row order."""
        return self.files[self.file_start[d] : self.file_start[d + 1]]

    def subs_of(self, d: int) -> array:
        """The subdirectories of directory `d`, in the order they were met."""
        return self.subs[self.sub_start[d] : self.sub_start[d + 1]]

    def rows_at(self, path: str) -> list[int]:
        """The rows that are not directories lying at `path`, in row order."""
        d = self.dir_ids.get(parent_path(path))
        if d is None:
            return []
        path_of = self.path_of
        return [r for r in self.files_of(d) if path_of(r) == path]


def set_in(mask: bytes | bytearray) -> Iterator[int]:
    """The positions of the 1s of a mask of 0s and 1s (found at C speed)."""
    at = mask.find(1)
    while at >= 0:
        yield at
        at = mask.find(1, at + 1)


def _by_parent(parent: array) -> tuple[array, array]:
    """The directories (but the root) grouped by parent, in id order, and where each
    parent's group starts (one more start: the end): a counting sort, no list per group."""
    counts = Counter(parent[1:])
    start = array("i", accumulate((counts.get(d, 0) for d in range(len(parent))), initial=0))
    at = array("i", start)
    out = array("i", bytes(4 * (len(parent) - 1)))
    for d in range(1, len(parent)):
        p = parent[d]
        out[at[p]] = d
        at[p] += 1
    return out, start


# -- one tree per layer index, made once ---------------------------------------------------------
_TREES: dict[int, LayerTree] = {}  # id(index) -> its tree (entries at their own paths)
_LOCKS: dict[object, threading.Lock] = {}
_GUARD = threading.Lock()


def once(key: object, make: Callable[[], object], store: dict) -> object:
    """`store[key]`, made by `make()` the first time (one thread makes it; the others asking
    meanwhile wait for it rather than make it again)."""
    found = store.get(key)
    if found is not None:
        return found
    slot = (id(store), key)
    with _GUARD:
        lock = _LOCKS.setdefault(slot, threading.Lock())
    with lock:
        found = store.get(key)
        if found is None:
            found = store[key] = make()
    with _GUARD:
        _LOCKS.pop(slot, None)
    return found


def layer_tree(index: LayerIndex, cancelled: CancelFn | None = None) -> LayerTree:
    """The tree of a layer's entries at their own paths (made once per index, kept while it
    lives)."""
    key = id(index)

    def make() -> LayerTree:
        tree = LayerTree(index, cancelled=cancelled)
        weakref.finalize(index, _TREES.pop, key, None)
        return tree

    found = once(key, make, _TREES)
    assert isinstance(found, LayerTree)
    return found
