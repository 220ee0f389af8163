"""A cache of layer indexes in the user's cache directory, so re-opening an image (or opening
another that shares its layers) skips the layers already read.

- Where: `$LAYERSCOPE_CACHE_DIR`, else `$XDG_CACHE_HOME/layerscope`, else `~/.cache/layerscope`.
- Key: the layer's claimed blob digest and diff_id and its stored size. A hit is trusted as it is
  only for the very file it was read from (same path, inode, size and mtime); any other file
  (another archive sharing the layer, or this one rewritten) has its blob's sha256 checked
  against the verified digest first: one hash pass instead of decompressing, parsing and hashing
  every file. `--no-cache` reads (and verifies) every layer again.
- Beside the layer indexes (`.idx`), per image (keyed by its layers' keys): its figures (`.fig`)
  and its analysis (`.ana`), so a re-open computes nothing again (figurecache.py).
- Safe under concurrent runs (written to a temporary file, then renamed), ignored and removed
  when damaged (each file carries a CRC-32 of its payload: it guards against torn or damaged
  files, not against someone who can write the user's cache directory), bounded in size (least
  recently used entries go first; `$LAYERSCOPE_CACHE_MAX` bytes, default 2 GiB).
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import tempfile
import zlib
from array import array
from pathlib import Path

from .layerreader import BlobLocation
from .records import LayerIndex

MAGIC = b"LSCACHE2"
HEADER = len(MAGIC) + 4  # the magic, then the payload's CRC-32
FORMAT = 7  # bump when LayerIndex, the reader's output or a cached figure changes
DEFAULT_MAX = 2 << 30


def cache_dir() -> Path:
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


def layer_key(loc: BlobLocation, diff_id: str, digest: str | None, verified: bool) -> str:
    return hashlib.sha256(f"{FORMAT}|{diff_id}|{digest}|{loc.size}|{verified}".encode()).hexdigest()


def _identity(loc: BlobLocation) -> str:
    """The file a blob lies in, as the filesystem identifies it now."""
    st = os.stat(loc.file)
    who = f"{os.path.realpath(loc.file)}|{st.st_dev}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(f"{who}|{loc.offset}|{loc.size}".encode()).hexdigest()[:32]


def _blob_digest(loc: BlobLocation) -> str:
    h = hashlib.sha256()
    with open(loc.file, "rb") as f:
        f.seek(loc.offset)
        left = loc.size
        while left:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    return "sha256:" + h.hexdigest()


_COLUMNS = ("sizes", "modes", "uids", "gids", "mtimes", "offsets")
_META = ("diff_id", "digest", "compression", "stored_size", "tar_size", "verified")


def _dump(index: LayerIndex) -> bytes:
    payload = (
        index.paths,
        bytes(index.types),
        bytes(index.flags),
        [(getattr(index, c).typecode, getattr(index, c).tobytes()) for c in _COLUMNS],
        bytes(index.digests),
        index.links,
        index.extras,
        [getattr(index, m) for m in _META],
    )
    return marshal.dumps(payload)


def _load(data: bytes | memoryview) -> LayerIndex:
    paths, types, flags, cols, digests, links, extras, meta = marshal.loads(data)
    index = LayerIndex.empty()
    index.paths = paths
    index.types = bytearray(types)
    index.flags = bytearray(flags)
    for name, (typecode, raw) in zip(_COLUMNS, cols, strict=True):
        setattr(index, name, array(typecode, raw))
    index.digests = bytearray(digests)
    index.links = links
    index.extras = extras
    for name, value in zip(_META, meta, strict=True):
        setattr(index, name, value)
    n = len(paths)
    columns = [index.types, index.flags, *(getattr(index, c) for c in _COLUMNS)]
    if any(len(col) != n for col in columns) or len(index.digests) != 32 * n:
        raise ValueError("inconsistent cache entry")
    return index


class LayerCache:
    """The cache directory: entries of any kind (`idx`, `fig`, `ana`), named by a key."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_dir()

    def _path(self, key: str, kind: str = "idx") -> Path:
        return self.root / key[:2] / f"{key}.{kind}"

    def read(self, key: str, kind: str) -> memoryview | None:
        """The payload stored under `key`, or None (a damaged entry is removed)."""
        path = self._path(key, kind)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        payload = memoryview(data)[HEADER:]
        if data[:8] != MAGIC or zlib.crc32(payload).to_bytes(4, "big") != data[8:HEADER]:
            self.forget(key, kind)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used
        return payload

    def forget(self, key: str, kind: str) -> None:
        with contextlib.suppress(OSError):
            self._path(key, kind).unlink()

    def write(self, key: str, kind: str, payload: bytes) -> None:
        """Store `payload` under `key` (atomically; a cache that cannot be written is no cache,
        not an error)."""
        path = self._path(key, kind)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(MAGIC + zlib.crc32(payload).to_bytes(4, "big"))
                    f.write(payload)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            self._trim()
        except OSError:
            return

    def get(self, key: str, loc: BlobLocation | None = None) -> LayerIndex | None:
        """The cached index, if any; with `loc`, only if the blob there is the one that was
        read (see the module's note on trust)."""
        payload = self.read(key, "idx")
        if payload is None:
            return None
        try:
            index = _load(payload)
        except Exception:  # from another version: forget it
            self.forget(key, "idx")
            return None
        if loc is not None and not self._same_blob(key, index, loc):
            return None
        return index

    def _seen(self, key: str, loc: BlobLocation) -> Path:
        return self._path(key).with_suffix(f".{_identity(loc)}.seen")

    def _same_blob(self, key: str, index: LayerIndex, loc: BlobLocation) -> bool:
        try:
            seen = self._seen(key, loc)
            if seen.exists():
                return True
            if not index.verified or _blob_digest(loc) != index.digest:
                return False
            seen.touch()
            return True
        except OSError:
            return False

    def put(self, key: str, index: LayerIndex, loc: BlobLocation | None = None) -> None:
        """Store an index; with `loc`, the blob it was read (and verified) from is trusted as it
        is on the next open."""
        self.write(key, "idx", _dump(index))
        if loc is not None and index.verified:
            with contextlib.suppress(OSError):
                self._seen(key, loc).touch()

    def _trim(self) -> None:
        limit = _max_bytes()
        entries = []
        total = 0
        for p in self.root.glob("*/*.*"):
            if p.suffix == ".seen" or p.name.startswith(".tmp-"):
                continue
            try:
                st = p.stat()
            except OSError:
                continue
            entries.append((st.st_mtime, st.st_size, p))
            total += st.st_size
        if total <= limit:
            return
        for _mtime, size, p in sorted(entries):
            with contextlib.suppress(OSError):
                p.unlink()
                total -= size
            for marker in p.parent.glob(p.stem + ".*.seen"):  # an index's markers go with it
                with contextlib.suppress(OSError):
                    marker.unlink()
            if total <= limit:
                return
