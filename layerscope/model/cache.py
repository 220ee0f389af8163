"""A cache of layer indexes in the user's cache directory, so re-opening an image (or opening
another that shares its layers) skips the layers already read.

- Where: `$LAYERSCOPE_CACHE_DIR`, else `$XDG_CACHE_HOME/layerscope`, else `~/.cache/layerscope`.
- Key: the layer's claimed blob digest and diff_id, its stored size and whether it was verified.
  An entry's file is named by the sha256 of its key's text, and carries that text, checked on
  read: an entry copied onto another key's name is refused (and removed); a layer index must also
  say of itself the diff_id, digest and size that were asked. A hit is trusted as it is only for
  the very file it was read from (same path, device, inode, size, mtime and ctime, kept in the
  entry: a rewrite changes the ctime, which no one can set back); any other file (another
  archive sharing the layer, or this one rewritten) has its blob's sha256 checked against the
  verified digest first (one hash pass instead of decompressing, parsing and hashing every
  file), and is then remembered by an empty marker file. `--no-cache` reads (and verifies)
  every layer again.
- Beside the layer indexes (`.idx`), per image (keyed by its layers' keys): its figures (`.fig`)
  and its analysis (`.ana`), so a re-open computes nothing again (figurecache.py).
- Trusted only as the user's own: the cache directory and its subdirectories must belong to the
  user and be writable by no one else (they are created 0700), or the cache is not used at all
  (one warning line on stderr; the run goes on without it). An entry is opened without following
  a link, without blocking (a FIFO cannot hang a run), and read only if it is a regular file of
  the user's, no larger than the cache's bound.
- Safe under concurrent runs (written to a temporary file, then renamed), ignored and removed
  when damaged (each file carries a CRC-32: it guards against torn or damaged files, not against
  the user's own tampering), bounded in size (least recently used entries go first;
  `$LAYERSCOPE_CACHE_MAX` bytes, default 2 GiB). The total is kept in a ledger file, so a write
  scans nothing; one scan (which also removes `.tmp-*` leftovers of killed runs older than an
  hour) happens only when the ledger is missing or implausible, or says the cache is over its
  bound, and it then trims to 90 % of it. Trimming removes nothing but layerscope's own files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import stat
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from layerscope.read.layerreader import BlobLocation
from layerscope.read.records import LayerIndex
from layerscope.text import one_line

MAGIC = b"LSCACHE3"
HEADER = len(MAGIC) + 9  # the magic, a CRC-32 of the rest, the lengths of the key's text and note
FORMAT = 10  # bump when LayerIndex, the reader's output or a cached figure changes
DEFAULT_MAX = 2 << 30
LOW_WATER = 0.9  # a trim leaves this share of the bound, so that the next one is far off
STALE_TMP = 3600  # seconds: a `.tmp-*` file older than this is a killed run's leftover
LEDGER = "ledger"  # in the cache's root: the bytes the cache holds, as a decimal number

_ENTRY = re.compile(r"[0-9a-f]{64}\.(?:idx|fig|ana|doc|blb)")
_SEEN = re.compile(r"([0-9a-f]{64})\.[0-9a-f]{32}\.seen")
_TMP = re.compile(r"\.tmp-[a-z0-9_]{8}")  # tempfile.mkstemp(prefix=".tmp-")
_SUBDIR = re.compile(r"[0-9a-f]{2}")
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_UPDATE = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

_warned: set[str] = set()


def cache_dir() -> Path:
    """The cache directory this run uses (see the module's note)."""
    env = os.environ.get("LAYERSCOPE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "layerscope"


def _max_bytes() -> int:
    try:
        return int(os.environ.get("LAYERSCOPE_CACHE_MAX", DEFAULT_MAX))
    except ValueError:
        return DEFAULT_MAX


class LayerKey(str):
    """A layer index's key: its text (format, diff_id, digest, size, verified) names the entry and
    is stored in it; the attributes are what the index found there must say of itself."""

    diff_id: str
    digest: str | None
    size: int
    verified: bool

    def __new__(cls, diff_id: str, digest: str | None, size: int, verified: bool) -> LayerKey:
        key = super().__new__(cls, f"{FORMAT}|{diff_id}|{digest}|{size}|{verified}")
        key.diff_id, key.digest, key.size, key.verified = diff_id, digest, size, verified
        return key


def layer_key(loc: BlobLocation, diff_id: str, digest: str | None, verified: bool) -> LayerKey:
    """The key of a layer's index: what the image claims of the blob, and whether it is checked."""
    return LayerKey(diff_id, digest, loc.size, verified)


class Stored:
    """A worker's answer when it stored the index it read in the cache (`StoreIndex`)."""


@dataclass(frozen=True)
class StoreIndex:
    """What a worker process does with the index it read: store it in the cache, and answer
    only that it did (Stored): the process that asked reads it from there, so no copy of it is
    pickled, piped and unpickled, and the worker's memory is freed before that process takes
    its own. An index that cannot be stored is the answer itself."""

    root: Path
    key: LayerKey
    loc: BlobLocation

    def __call__(self, index: LayerIndex) -> LayerIndex | Stored:
        if LayerCache(self.root).put(self.key, index, self.loc):
            return Stored()
        return index

    def __reduce__(self) -> tuple[Callable[..., StoreIndex], tuple[Any, ...]]:
        key = self.key
        return _store_index, (
            self.root,
            (key.diff_id, key.digest, key.size, key.verified),
            self.loc,
        )


def _store_index(root: Path, key: tuple, loc: BlobLocation) -> StoreIndex:
    return StoreIndex(root, LayerKey(*key), loc)


def entry_name(key: str) -> str:
    """The name of the files stored under `key`: the sha256 of its text, in hex."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _key_text(key: str, kind: str) -> bytes:
    return f"{kind}\n{key}".encode("utf-8", "surrogatepass")


def _answers(index: LayerIndex, key: str) -> bool:
    """Whether a cached index is one read for `key` (a verified one says the very diff_id and
    digest asked; an unverified one may say what it computed instead)."""
    if not isinstance(key, LayerKey):
        return True
    if index.stored_size != key.size:
        return False
    if not key.verified:
        return True
    return (
        index.verified
        and (not key.diff_id or index.diff_id == key.diff_id)
        and (not key.digest or index.digest == key.digest)
    )


def _identity(loc: BlobLocation) -> str:
    """The file a blob lies in, as the filesystem identifies it now (the ctime changes with any
    write, and no one can set it back)."""
    if loc.remote is not None:  # content-addressed: the digest is the blob, wherever it lies
        text = loc.remote.identity
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    st = os.stat(loc.file)
    who = (
        f"{os.path.realpath(loc.file)}|{st.st_dev}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}"
        f"|{st.st_ctime_ns}"
    )
    text = f"{who}|{loc.offset}|{loc.size}"  # a file name need not be UTF-8
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _blob_digest(loc: BlobLocation) -> str:
    h = hashlib.sha256()
    with loc.open() as f:
        left = loc.size
        while left:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    return "sha256:" + h.hexdigest()


def _unsafe(st: os.stat_result, uid: int) -> str | None:
    """Why a directory cannot hold the user's cache, or None."""
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    if st.st_uid != uid:
        return f"belongs to uid {st.st_uid}, not to you (uid {uid})"
    if st.st_mode & 0o022:
        who = {0o020: "its group", 0o002: "others"}.get(st.st_mode & 0o022, "group and others")
        return f"is writable by {who} (mode {st.st_mode & 0o7777:04o}; chmod go-w makes it usable)"
    return None


def _warn(directory: Path, why: str) -> None:
    """One line on stderr, once per directory and process."""
    if str(directory) in _warned:
        return
    _warned.add(str(directory))
    message = f"warning: cache directory {directory} {why}: not used, going on without the cache"
    print(f"layerscope: {one_line(message)}", file=sys.stderr)


def _read_all(fd: int, size: int) -> bytes | None:
    data = os.read(fd, size)
    while len(data) < size:
        more = os.read(fd, size - len(data))
        if not more:
            return None
        data += more
    return data


def _parse_ledger(raw: bytes) -> int | None:
    line, newline, _rest = raw.partition(b"\n")
    if not newline or not line.isdigit() or len(line) > 18:
        return None
    return int(line)


class LayerCache:
    """The cache directory: entries of any kind (`idx`, `fig`, `ana`), stored under a key."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_dir()
        self._uid = os.geteuid()
        self._root_state: bool | None = None  # checked: usable or refused; None: not yet
        self._dirs: set[str] = set()  # subdirectories checked
        self._check_now()

    def _check_now(self) -> None:
        """Check the directories there are now, so that a refusal is said before the run starts
        (once the app's screen is up, a line on stderr would not be seen)."""
        if not self._check(self.root, create=False, follow=True):
            return  # refused, or not made yet (checked when it is)
        self._root_state = True
        try:
            with os.scandir(self.root) as it:
                subs = sorted(e.name for e in it if _SUBDIR.fullmatch(e.name))
        except OSError:
            return
        for sub in subs:
            if not self._usable(sub, create=False):
                return

    # -- where, and whether it may be used -------------------------------------------------------
    def _path(self, name: str, kind: str = "idx") -> Path:
        return self.root / name[:2] / f"{name}.{kind}"

    def _usable(self, sub: str, create: bool) -> bool:
        """Whether the root and its subdirectory `sub` are the user's own, writable by no one
        else (each checked once; with `create`, made 0700 when missing). A refused one refuses
        the whole cache for this run."""
        if self._root_state is None:
            if not self._check(self.root, create, follow=True):
                return False
            self._root_state = True
        if not self._root_state:
            return False
        if sub in self._dirs:
            return True
        if not self._check(self.root / sub, create, follow=False):
            return False
        self._dirs.add(sub)
        return True

    def _check(self, directory: Path, create: bool, follow: bool) -> bool:
        try:
            st = os.stat(directory) if follow else os.lstat(directory)
        except FileNotFoundError:
            if not create:
                return False
            try:
                if follow:
                    directory.parent.mkdir(parents=True, exist_ok=True)
                os.mkdir(directory, 0o700)
            except FileExistsError:
                pass  # made by another run meanwhile: checked below
            except OSError:
                return False
            return self._check(directory, False, follow)
        except OSError:
            return False
        why = _unsafe(st, self._uid)
        if why is None:
            return True
        self._root_state = False
        _warn(directory, why)
        return False

    def _own_file(self, st: os.stat_result) -> bool:
        return stat.S_ISREG(st.st_mode) and st.st_uid == self._uid and not st.st_mode & 0o022

    # -- entries ---------------------------------------------------------------------------------
    def read(self, key: str, kind: str) -> memoryview | None:
        """The payload stored under `key`, or None (a damaged entry, or one of another key, is
        removed)."""
        found = self._read_entry(key, kind)
        return found[1] if found is not None else None

    def _read_entry(self, key: str, kind: str) -> tuple[bytes, memoryview] | None:
        """The note and the payload stored under `key`, or None."""
        name = entry_name(key)
        if not self._usable(name[:2], create=False):
            return None
        path = self._path(name, kind)
        data = self._read_file(path)
        if data is None:
            return None
        found = _unpack(data, _key_text(key, kind))
        if found is None:
            self.forget(key, kind)
        return found

    def _open_entry(self, key: str, kind: str) -> tuple[bytes, _Payload] | None:
        """The note of the entry stored under `key` and a reader of its payload (checked as it
        is read: `_Payload.finish`), or None (an entry of another key is removed)."""
        name = entry_name(key)
        if not self._usable(name[:2], create=False):
            return None
        path = self._path(name, kind)
        f = self._open_file(path)
        if f is None:
            return None
        try:
            found = _Payload.open(f, _key_text(key, kind))
        except OSError:
            found = None
        if found is None:
            f.close()
            self.forget(key, kind)
        return found

    def _open_file(self, path: Path) -> BinaryIO | None:
        """An entry opened for reading, if it is a regular file of the user's within the bound
        (anything else found there is removed)."""
        try:
            fd = os.open(path, _READ)
        except FileNotFoundError:
            return None
        except OSError:  # a symlink (ELOOP), or unreadable
            _remove(path)
            return None
        try:
            st = os.fstat(fd)
            if not self._own_file(st) or not HEADER <= st.st_size <= _max_bytes():
                _remove(path)
                os.close(fd)
                return None
            with contextlib.suppress(OSError):
                os.utime(fd)  # most recently used
            return os.fdopen(fd, "rb")
        except OSError:
            os.close(fd)
            return None

    def _read_file(self, path: Path) -> bytes | None:
        """An entry's bytes, if it is a regular file of the user's within the bound (anything
        else found there is removed)."""
        f = self._open_file(path)
        if f is None:
            return None
        with f:
            try:
                return _read_all(f.fileno(), os.fstat(f.fileno()).st_size)
            except OSError:
                return None

    def forget(self, key: str, kind: str) -> None:
        """Remove the entry stored under `key`, if any."""
        name = entry_name(key)
        if not self._usable(name[:2], create=False):
            return
        path = self._path(name, kind)
        size = self._size(path)
        try:
            os.unlink(path)
        except OSError:
            return
        if size:
            self._account(-size)

    def _size(self, path: Path) -> int:
        """The size of the user's entry at `path`, 0 if there is none."""
        try:
            st = os.lstat(path)
        except OSError:
            return 0
        return st.st_size if self._own_file(st) else 0

    def write(
        self,
        key: str,
        kind: str,
        payload: bytes | Iterable[bytes | bytearray | memoryview],
        note: bytes = b"",
    ) -> bool:
        """Store `payload` (bytes, or pieces of it) under `key` (atomically; a cache that cannot
        be written is no cache, not an error: False), with a `note` of up to 255 bytes."""
        writer = self.writer(key, kind, note)
        if writer is None:
            return False
        pieces = [payload] if isinstance(payload, bytes | bytearray | memoryview) else payload
        try:
            for piece in pieces:
                if not writer.write(piece):
                    return False
        except BaseException:
            writer.discard()
            raise
        return writer.commit()

    def writer(self, key: str, kind: str, note: bytes = b"") -> EntryWriter | None:
        """An entry written piece by piece (`EntryWriter`), or None if the cache cannot take it."""
        name = entry_name(key)
        if not self._usable(name[:2], create=True):
            return None
        path = self._path(name, kind)
        text = _key_text(key, kind)
        head = len(text).to_bytes(4, "big") + text + len(note).to_bytes(1, "big") + note
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        except OSError:
            return None
        try:
            f = os.fdopen(fd, "wb")
            f.write(MAGIC + bytes(4) + head)
        except BaseException:
            _remove(Path(tmp))
            raise
        return EntryWriter(self, path, Path(tmp), f, zlib.crc32(head), len(MAGIC) + 4 + len(head))

    # -- registry documents (registry.DocStore) ---------------------------------------------------
    def read_doc(self, key: str) -> bytes | None:
        """A manifest, index or config fetched from a registry (`doc|<digest>`), or the digest a
        reference named last (`ref|<reference>`)."""
        data = self.read(key, "doc")
        return bytes(data) if data is not None else None

    def write_doc(self, key: str, data: bytes) -> None:
        self.write(key, "doc", data)

    # -- layer indexes ---------------------------------------------------------------------------
    def get(self, key: str, loc: BlobLocation | None = None) -> LayerIndex | None:
        """The cached index, if any; with `loc`, only if the blob there is the one that was
        read (see the module's note on trust). It is read as it is decoded: no copy of the
        whole entry is held."""
        found = self._open_entry(key, "idx")
        if found is None:
            return None
        read_from, payload = found
        try:
            index: LayerIndex | None = LayerIndex.from_payload(payload.read)
            if not payload.finish():
                index = None
        except Exception:  # damaged, or from another version: forget it
            index = None
        finally:
            payload.close()
        if index is None or not _answers(index, key):
            self.forget(key, "idx")
            return None
        if loc is not None and not self._same_blob(key, index, loc, read_from):
            return None
        return index

    def _same_blob(self, key: str, index: LayerIndex, loc: BlobLocation, read_from: bytes) -> bool:
        """Whether the blob at `loc` is the one the index was read from: the very file it was
        read from (`read_from`, its identity then), or one already hashed (a marker), or one
        whose sha256 is the index's verified digest. A registry's blob is named by its digest
        (and checked against it whenever it is read): a verified index of that digest is it."""
        if loc.remote is not None:
            return index.verified and index.digest == loc.remote.digest
        try:
            identity = _identity(loc)
            if identity.encode() == read_from:
                return True
            seen = self._path(entry_name(key)).with_suffix(f".{identity}.seen")
            if self._own_file(os.lstat(seen)):
                return True
        except FileNotFoundError:
            pass
        except OSError:
            return False
        try:
            if not index.verified or _blob_digest(loc) != index.digest:
                return False
        except OSError:
            return False
        _touch(seen)
        return True

    def put(self, key: str, index: LayerIndex, loc: BlobLocation | None = None) -> bool:
        """Store an index (False if it could not be); with `loc`, the blob it was read (and
        verified) from is trusted as it is on the next open."""
        read_from = b""
        if loc is not None and index.verified:
            with contextlib.suppress(OSError):
                read_from = _identity(loc).encode()
        return self.write(key, "idx", index.payload(), read_from)

    # -- size ------------------------------------------------------------------------------------
    def _account(self, delta: int, pending: int = 0) -> None:
        """Add `delta` bytes to the ledger; rebuild it by one scan when it is missing or
        implausible, and trim when it says the cache is over its bound (`pending`: bytes about
        to be written, not on disk yet)."""
        try:
            fd = os.open(self.root / LEDGER, _UPDATE, 0o600)
        except OSError:
            return
        try:
            if not self._own_file(os.fstat(fd)):
                return
            fcntl.flock(fd, fcntl.LOCK_EX)  # one update at a time; released by the close
            total = _parse_ledger(os.pread(fd, 32, 0))
            total = None if total is None or total + delta < 0 else total + delta
            limit = _max_bytes()
            if total is None or total > limit:
                total = self._rescan(limit, pending) + pending
            data = b"%d\n" % total
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        except OSError:
            return
        finally:
            os.close(fd)

    def _rescan(self, limit: int, pending: int) -> int:
        """The bytes the cache holds, counted by one scan of its own files (removing `.tmp-*`
        leftovers older than STALE_TMP, and markers whose index is gone); when that and `pending`
        are over `limit`, the least recently used entries are removed (an index with its
        markers) down to LOW_WATER of it."""
        entries: list[tuple[int, int, Path]] = []
        markers: dict[str, list[Path]] = {}
        total = 0
        stale = time.time() - STALE_TMP
        for path, st in self._own_files():
            name = path.name
            if _SEEN.fullmatch(name):
                markers.setdefault(name[:64], []).append(path)
            elif _TMP.fullmatch(name):  # being written (counted), or left by a killed run
                total += 0 if st.st_mtime < stale and _remove(path) else st.st_size
            else:
                entries.append((st.st_mtime_ns, st.st_size, path))
                total += st.st_size
        indexes = {p.name[:64] for _m, _s, p in entries if p.suffix == ".idx"}
        for stem in set(markers) - indexes:
            for marker in markers.pop(stem):
                _remove(marker)
        if total + pending <= limit:
            return total
        target = int(limit * LOW_WATER) - pending
        for _mtime, size, path in sorted(entries):
            if total <= target:
                break
            if _remove(path):
                total -= size
            if path.suffix == ".idx":
                for marker in markers.get(path.name[:64], ()):
                    _remove(marker)
        return total

    def _own_files(self) -> Iterator[tuple[Path, os.stat_result]]:
        """Every file of layerscope's in the cache (entries, markers, temporary files), with its
        status; nothing else, and nothing in a subdirectory that is not the user's own."""
        try:
            subs = sorted(e.name for e in os.scandir(self.root) if _SUBDIR.fullmatch(e.name))
        except OSError:
            return
        for sub in subs:
            if not self._usable(sub, create=False):
                continue
            try:
                with os.scandir(self.root / sub) as it:
                    found = [e for e in it if _own_name(e.name)]
            except OSError:
                continue
            for e in found:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if self._own_file(st):
                    yield Path(e.path), st


class EntryWriter:
    """An entry being written (`LayerCache.writer`): pieces go to a `.tmp-*` file beside its
    place, its CRC-32 computed as they go; `commit` gives it its name (atomically), `discard`
    removes it. The ledger counts the bytes once they are written, before the entry takes its
    name (a run killed meanwhile leaves a `.tmp-*` file that the next scan counts, or removes)."""

    def __init__(self, cache: LayerCache, path: Path, tmp: Path, f: BinaryIO, crc: int,
                 size: int) -> None:  # fmt: skip
        self.cache, self.path, self.tmp, self.f = cache, path, tmp, f
        self.crc, self.size, self.limit = crc, size, _max_bytes()
        self.failed = False

    def write(self, piece: bytes | bytearray | memoryview) -> bool:
        """Add a piece; False (and the entry discarded) once it cannot be kept."""
        if self.failed:
            return False
        self.size += len(piece) if isinstance(piece, bytes) else memoryview(piece).nbytes
        try:
            if self.size > self.limit:
                raise _TooBig()  # could never be kept
            self.crc = zlib.crc32(piece, self.crc)
            self.f.write(piece)
        except (OSError, _TooBig):
            self.discard()
            return False
        return True

    def commit(self) -> bool:
        if self.failed:
            return False
        try:
            self.f.seek(len(MAGIC))
            self.f.write(self.crc.to_bytes(4, "big"))
            self.f.close()
        except OSError:
            self.discard()
            return False
        delta = self.size - self.cache._size(self.path)
        self.cache._account(delta)
        try:
            os.replace(self.tmp, self.path)
        except OSError:
            _remove(self.tmp)
            self.cache._account(-delta)
            return False
        return True

    def discard(self) -> None:
        self.failed = True
        with contextlib.suppress(OSError):
            self.f.close()
        _remove(self.tmp)


@dataclass(frozen=True)
class KeptBlobs:
    """Registry layer blobs kept in the cache (registryoptions.BlobKeeper): for the run (the
    secret scan, previews and exports read them from there instead of fetching them again),
    and after it with `--keep-blobs`. A blob is kept only once it
    was read whole and its sha256 is its digest (written as it streams in); a kept one is
    checked (its CRC-32) the first time a process uses it, unless kept in this run. Bounded with the rest of the cache; picklable: worker processes
    keep what they fetch."""

    root: Path

    def has(self, digest: str) -> bool:
        cache = _cache_at(self.root)
        return cache._path(entry_name(f"blob|{digest}"), "blb").exists()

    def forget(self, digest: str) -> None:
        _cache_at(self.root).forget(f"blob|{digest}", "blb")

    def start(self, digest: str) -> EntryWriter | None:
        """An entry to write a blob into as it streams in (committed only once it was read
        whole and its digest checked: `BlobStream`)."""
        return _cache_at(self.root).writer(f"blob|{digest}", "blb")

    def open(self, digest: str, size: int, start: int, since: float = 0.0) -> BinaryIO | None:
        """A kept blob from `start` on; `since`: a blob kept after this time (in this run, its
        digest checked as it was written) is not checked again."""
        cache = _cache_at(self.root)
        key = f"blob|{digest}"
        path = cache._path(entry_name(key), "blb")
        with contextlib.suppress(OSError):
            if since and path.stat().st_mtime >= since:
                _checked_blobs.add(digest)
        if digest not in _checked_blobs:
            found = cache._open_entry(key, "blb")
            if found is None:
                return None
            _note, payload = found
            try:
                while payload.left:
                    payload.read(min(payload.left, 1 << 20))
                whole = payload.finish()
            except (OSError, ValueError):
                whole = False
            finally:
                payload.close()
            if not whole:
                cache.forget(key, "blb")
                return None
            _checked_blobs.add(digest)
        found = cache._open_entry(key, "blb")
        if found is None:
            return None
        _note, payload = found
        if payload.left != size:
            payload.close()
            return None
        payload.f.seek(start, os.SEEK_CUR)
        return payload.f


_checked_blobs: set[str] = set()  # kept blobs whose CRC-32 this process checked
_caches: dict[Path, LayerCache] = {}


def _cache_at(root: Path) -> LayerCache:
    """One LayerCache per directory and process (making one checks the directory's
    subdirectories: not once per blob)."""
    if root not in _caches:
        _caches[root] = LayerCache(root)
    return _caches[root]


def _own_name(name: str) -> bool:
    return bool(_ENTRY.fullmatch(name) or _SEEN.fullmatch(name) or _TMP.fullmatch(name))


def _unpack(data: bytes, text: bytes) -> tuple[bytes, memoryview] | None:
    """The note and the payload of an entry's bytes, if they are whole and stored under this
    key's text."""
    view = memoryview(data)
    if data[: len(MAGIC)] != MAGIC:
        return None
    at = len(MAGIC) + 4
    if zlib.crc32(view[at:]).to_bytes(4, "big") != data[len(MAGIC) : at]:
        return None
    n = int.from_bytes(data[at : at + 4], "big")
    at += 4
    if n != len(text) or view[at : at + n] != text or len(data) <= at + n:
        return None
    at += n
    end = at + 1 + data[at]
    return bytes(view[at + 1 : end]), view[end:]


class _TooBig(Exception):
    """An entry grew over the cache's bound while it was written."""


class _Payload:
    """The payload of an entry, read in pieces, its CRC-32 checked once all is read."""

    __slots__ = ("crc", "f", "left", "want")

    def __init__(self, f: BinaryIO, want: int, crc: int, left: int) -> None:
        self.f, self.want, self.crc, self.left = f, want, crc, left

    @classmethod
    def open(cls, f: BinaryIO, text: bytes) -> tuple[bytes, _Payload] | None:
        """The note and payload of the entry open in `f`, if it is stored under this key's text
        (else None)."""
        size = os.fstat(f.fileno()).st_size
        start = f.read(len(MAGIC) + 8)
        if len(start) != len(MAGIC) + 8 or start[: len(MAGIC)] != MAGIC:
            return None
        want = int.from_bytes(start[len(MAGIC) : len(MAGIC) + 4], "big")
        n = int.from_bytes(start[len(MAGIC) + 4 :], "big")
        if n != len(text) or f.read(n) != text:
            return None
        length = f.read(1)
        if not length:
            return None
        note = f.read(length[0])
        if len(note) != length[0]:
            return None
        head = start[len(MAGIC) + 4 :] + text + length + note
        left = size - len(MAGIC) - 4 - len(head)
        if left <= 0:
            return None
        return note, cls(f, want, zlib.crc32(head), left)

    def read(self, n: int) -> bytes:
        """The next `n` bytes of the payload; ValueError past its end."""
        if n > self.left:
            raise ValueError("truncated entry")
        data = self.f.read(n)
        if len(data) != n:
            raise ValueError("truncated entry")
        self.left -= n
        self.crc = zlib.crc32(data, self.crc)
        return data

    def finish(self) -> bool:
        """Whether the payload was read to its end and its CRC is the one stored."""
        return self.left == 0 and self.crc == self.want

    def close(self) -> None:
        self.f.close()


def _touch(path: Path) -> None:
    """Create an empty marker file (never through a link)."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, _CREATE, 0o600))


def _remove(path: Path) -> bool:
    try:
        os.unlink(path)
    except OSError:
        return False
    return True
