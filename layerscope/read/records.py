"""Compact per-layer entry records: one column per field, so 500,000 entries cost tens of MB, not GB.

A `LayerIndex` holds every tar entry of one layer blob after normalisation (docs/formats.md 25), with
whiteout and opaque markers recognised (15-18). `Entry` is a light view of one row, made on demand.
`EntryType` says what an entry is (its values fill the `types` column); `F_*` are its flags.
"""

from __future__ import annotations

import marshal
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from itertools import compress
from typing import NamedTuple


class EntryType(IntEnum):
    """What an entry is, in the order of docs/report.md's `type` values. The values are stored in
    `LayerIndex.types` (a bytearray) and in the cache: they never change."""

    FILE = 0
    DIR = 1
    SYMLINK = 2
    HARDLINK = 3
    CHAR = 4
    BLOCK = 5
    FIFO = 6
    WHITEOUT = 7  # a whiteout marker: the path it deletes
    OPAQUE = 8  # an opaque-directory marker: the directory it clears

    @property
    def label(self) -> str:
        """The report's spelling: `file`, `dir`, `symlink`, ..."""
        return self.name.lower()


# Short names for the loops over a types column (the members themselves).
FILE, DIR, SYMLINK, HARDLINK = EntryType.FILE, EntryType.DIR, EntryType.SYMLINK, EntryType.HARDLINK
CHAR, BLOCK, FIFO = EntryType.CHAR, EntryType.BLOCK, EntryType.FIFO
WHITEOUT, OPAQUE = EntryType.WHITEOUT, EntryType.OPAQUE
TYPE_NAMES = tuple(t.label for t in EntryType)  # the labels by value, for those loops

# Flags: what a row is besides its type.
F_META = 1  # not a user file: eStargz metadata, aufs `.wh..wh.*` bookkeeping; ignored by the model
F_DOTDOT = 2  # the raw name had `..` components or left the root: flagged, resolved lexically
F_OVERLAY = 4  # an overlay-style whiteout (char 0/0) or opaque (xattr) rather than a .wh. marker
F_BAD_WHITEOUT = 8  # `.wh.`, `.wh..`, `.wh...`: invalid whiteouts, kept as ordinary entries
F_SPARSE = 16  # a sparse file: its size is the logical size
F_ALSO_OPAQUE = 32  # a directory entry carrying trusted.overlay.opaque=y: it is opaque too
F_ABSOLUTE = 64  # the raw name (or a hardlink's target) was absolute: flagged, taken from the root

FLAG_NAMES = {
    F_META: "metadata",
    F_DOTDOT: "dotdot",
    F_OVERLAY: "overlay",
    F_BAD_WHITEOUT: "invalid-whiteout",
    F_SPARSE: "sparse",
    F_ALSO_OPAQUE: "opaque-xattr",
    F_ABSOLUTE: "absolute",
}

_IS_FILE = bytes(int(t == EntryType.FILE) for t in range(256))  # a types column -> 1 / 0
_IS_META = bytes(int(bool(f & F_META)) for f in range(256))  # a flags column -> 1 / 0
ESTARGZ_META = frozenset({"stargz.index.json", ".prefetch.landmark", ".no.prefetch.landmark"})
NO_DIGEST = bytes(32)


def flag_names(flags: int) -> list[str]:
    """The names of the flags set in `flags` (the report's `flags` list)."""
    return [name for bit, name in FLAG_NAMES.items() if flags & bit]


def normalise(name: str) -> tuple[str, bool]:
    """The normalised path of a tar name and whether it had `..` (or climbed above the root).
    Leading `/` and `./` go, `.` and empty components collapse, a trailing `/` goes."""
    if (
        "//" not in name
        and "/./" not in name
        and ".." not in name
        and not name.startswith(("/", "./"))
        and not name.endswith("/.")
        and name != "."
    ):
        return (name[:-1] if name.endswith("/") else name), False
    parts: list[str] = []
    dotdot = False
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            dotdot = True
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts), dotdot


class Entry(NamedTuple):
    """One row of a LayerIndex, as plain values."""

    path: str
    type: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    link: str | None
    digest: str | None  # "sha256:<hex>" of a regular file's content
    offset: int  # where the data starts in the uncompressed layer tar
    flags: int

    @property
    def mode_octal(self) -> str:
        """The permission bits as four octal digits: `0644`."""
        return f"{self.mode & 0o7777:04o}"


def _wide(col: array, value: int) -> array:
    """`col` as 8-byte signed numbers, `value` appended (tar numbers can be that large)."""
    wide = array("q", col)
    wide.append(value)
    return wide


@dataclass(repr=False)
class LayerIndex:
    """Every entry of one layer blob, column by column, plus what was learnt of the blob."""

    paths: list[str]
    types: bytearray
    flags: bytearray
    sizes: array
    modes: array
    uids: array
    gids: array
    mtimes: array
    offsets: array
    digests: bytearray  # 32 bytes per row; zeros where there is no content digest
    links: dict[int, str]  # row -> link target (symlinks, hardlinks)
    extras: dict[int, dict]  # row -> rare fields: devmajor/devminor, xattrs, raw name
    diff_id: str = ""
    digest: str = ""
    compression: str = "none"
    stored_size: int = 0
    tar_size: int = 0  # bytes of the uncompressed layer tar
    verified: bool = False

    @classmethod
    def empty(cls) -> LayerIndex:
        """An index with no rows, each column of its narrowest type."""
        return cls(
            paths=[],
            types=bytearray(),
            flags=bytearray(),
            sizes=array("I"),  # 4 bytes a row, widened to 8 by a file of 4 GiB or more
            modes=array("I"),
            uids=array("I"),  # 4 bytes a row; widened to 8 by the first value that needs it
            gids=array("I"),
            mtimes=array("i"),
            offsets=array("I"),  # widened to 8 bytes past 4 GiB into the layer's tar
            digests=bytearray(),
            links={},
            extras={},
        )

    def __len__(self) -> int:
        return len(self.paths)

    def add(
        self,
        path: str,
        type_: int,
        flags: int,
        size: int,
        mode: int,
        uid: int,
        gid: int,
        mtime: int,
        offset: int,
        digest: bytes = NO_DIGEST,
        link: str | None = None,
        extra: dict | None = None,
    ) -> int:
        """Append an entry; its row number."""
        row = len(self.paths)
        self.paths.append(path)
        self.types.append(type_)
        self.flags.append(flags)
        try:
            self.sizes.append(size)
        except OverflowError:
            self.sizes = _wide(self.sizes, size)
        self.modes.append(mode & 0xFFFFFFFF)
        try:
            self.uids.append(uid)
        except OverflowError:
            self.uids = _wide(self.uids, uid)
        try:
            self.gids.append(gid)
        except OverflowError:
            self.gids = _wide(self.gids, gid)
        try:
            self.mtimes.append(mtime)
        except OverflowError:
            self.mtimes = _wide(self.mtimes, mtime)
        try:
            self.offsets.append(offset)
        except OverflowError:
            self.offsets = _wide(self.offsets, offset)
        self.digests += digest
        if link is not None:
            self.links[row] = link
        if extra:
            self.extras[row] = extra
        return row

    def tail(self, start: int) -> LayerIndex:
        """The rows from `start` on (renumbered from 0), as an index (itself if `start` is 0)."""
        if not start:
            return self
        out = LayerIndex.empty()
        out.paths = self.paths[start:]
        out.types, out.flags = self.types[start:], self.flags[start:]
        for c in _NUMBERS:
            setattr(out, c, getattr(self, c)[start:])
        out.digests = self.digests[32 * start :]
        out.links = {row - start: v for row, v in self.links.items() if row >= start}
        out.extras = {row - start: v for row, v in self.extras.items() if row >= start}
        return out

    def extend(self, other: LayerIndex) -> None:
        """Append the rows of `other` (renumbered after these)."""
        n = len(self.paths)
        self.paths += other.paths
        self.types += other.types
        self.flags += other.flags
        for c in _NUMBERS:
            mine, theirs = getattr(self, c), getattr(other, c)
            if mine.typecode != theirs.typecode:  # one was widened: both are, then
                mine = array("q", mine)
                setattr(self, c, mine)
                theirs = array("q", theirs)
            mine += theirs
        self.digests += other.digests
        self.links.update((row + n, link) for row, link in other.links.items())
        self.extras.update((row + n, extra) for row, extra in other.extras.items())

    def digest_at(self, row: int) -> bytes:
        """The 32 bytes of a row's digest column (zeros where it has no content digest)."""
        return bytes(self.digests[row * 32 : row * 32 + 32])

    def content_digest(self, row: int) -> bytes | None:
        """The sha256 of a regular file's content; None for anything else."""
        if self.types[row] == FILE and not self.flags[row] & F_META:
            return self.digest_at(row)
        return None

    def entry(self, row: int) -> Entry:
        """Row `row` as plain values."""
        d = self.content_digest(row)
        return Entry(
            path=self.paths[row],
            type=TYPE_NAMES[self.types[row]],
            size=self.sizes[row],
            mode=self.modes[row],
            uid=self.uids[row],
            gid=self.gids[row],
            mtime=self.mtimes[row],
            link=self.links.get(row),
            digest=("sha256:" + d.hex()) if d is not None else None,
            offset=self.offsets[row],
            flags=self.flags[row],
        )

    def __iter__(self) -> Iterator[Entry]:
        return (self.entry(i) for i in range(len(self.paths)))

    @property
    def size(self) -> int:
        """Sum of the sizes of the regular files in the layer's tar (metadata entries aside)."""
        files = self.types.translate(_IS_FILE)  # 1 for a regular file, else 0
        if self.flags.translate(_IS_META).strip(b"\0"):  # and not metadata: both bytes are 1
            both = int.from_bytes(files, "little") & ~int.from_bytes(
                self.flags.translate(_IS_META), "little"
            )
            files = bytearray(both.to_bytes(len(files), "little"))
        return sum(compress(self.sizes, files))

    def __repr__(self) -> str:
        return f"<LayerIndex {self.diff_id[:19] or '(no diff_id)'}: {len(self.paths)} entries>"

    # -- its bytes: the cache holds them, a worker process hands them over ----------------------
    def payload(self) -> Iterator[bytes | bytearray | memoryview]:
        """The index as bytes, in pieces (`from_payload` reads it back): a head (the counts,
        what was learnt of the blob, the column types, links and extras), the paths in blocks
        of text, then each column's own bytes. No piece holds more than a block of paths or a
        column: writing it to a file costs no copy of the whole."""
        n = len(self.paths)
        head = marshal.dumps(
            (n, [getattr(self, m) for m in _META], [getattr(self, c).typecode for c in _NUMBERS],
             self.links, self.extras)
        )  # fmt: skip
        yield len(head).to_bytes(8, "little")
        yield head
        for start in range(0, n, PATH_BLOCK):
            block = self.paths[start : start + PATH_BLOCK]
            text = "\0".join(block)
            if text.count("\0") == len(block) - 1:  # no NUL in a name (a PAX path may hold one)
                data = b"T" + text.encode("utf-8", "surrogatepass")
            else:
                data = b"M" + marshal.dumps(block)
            yield len(data).to_bytes(8, "little")
            yield data
        yield self.types
        yield self.flags
        for c in _NUMBERS:
            yield memoryview(getattr(self, c)).cast("B")
        yield self.digests

    @classmethod
    def from_payload(cls, read: Callable[[int], bytes]) -> LayerIndex:
        """The index `payload` gave, read through `read(n)` (exactly n bytes, or an error).
        Damaged bytes raise ValueError (or another error), never give a wrong index silently
        unless they are well formed: the cache checks a CRC besides."""
        index = cls.empty()
        n, meta, codes, links, extras = marshal.loads(read(int.from_bytes(read(8), "little")))
        if (
            not isinstance(n, int)
            or n < 0
            or len(meta) != len(_META)
            or len(codes) != len(_NUMBERS)
        ):
            raise ValueError("another shape")
        paths = index.paths
        while len(paths) < n:
            data = memoryview(read(int.from_bytes(read(8), "little")))
            if data[:1] == b"T":
                paths += str(data[1:], "utf-8", "surrogatepass").split("\0")
            else:
                paths += marshal.loads(data[1:])
        if len(paths) != n:
            raise ValueError("inconsistent paths")
        index.types = bytearray(read(n))
        index.flags = bytearray(read(n))
        for c, code in zip(_NUMBERS, codes, strict=True):
            column = array(code)
            column.frombytes(read(n * column.itemsize))
            setattr(index, c, column)
        index.digests = bytearray(read(32 * n))
        if not isinstance(links, dict) or not isinstance(extras, dict):
            raise ValueError("another shape")
        index.links, index.extras = links, extras
        for name, value in zip(_META, meta, strict=True):
            setattr(index, name, value)
        return index

    def __reduce__(self) -> tuple[Callable[[bytes], LayerIndex], tuple[bytes]]:
        """Pickled as its payload (to and from a worker process): a few big pieces, not one
        object per path."""
        return _unpickle, (b"".join(self.payload()),)


PATH_BLOCK = 1 << 16  # paths joined into one piece of a payload
_NUMBERS = ("sizes", "modes", "uids", "gids", "mtimes", "offsets")  # the number columns
_META = ("diff_id", "digest", "compression", "stored_size", "tar_size", "verified")


def _unpickle(data: bytes) -> LayerIndex:
    view = memoryview(data)
    at = 0

    def read(k: int) -> bytes:
        nonlocal at
        if at + k > len(view):
            raise ValueError("truncated")
        at += k
        return view[at - k : at]  # type: ignore[return-value]

    return LayerIndex.from_payload(read)
