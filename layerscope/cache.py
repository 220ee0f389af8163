"""A cache of layer indexes in the user's cache directory, so re-opening an image (or opening
another that shares its layers) skips the layers already read.

- Where: `$LAYERSCOPE_CACHE_DIR`, else `$XDG_CACHE_HOME/layerscope`, else `~/.cache/layerscope`.
- Key: the layer's claimed blob digest and diff_id and its stored size. A hit is trusted as it is
  only for the very file it was read from (same path, inode, size and mtime); any other file
  (another archive sharing the layer, or this one rewritten) has its blob's sha256 checked
  against the verified digest first: one hash pass instead of decompressing, parsing and hashing
  every file. `--no-cache` reads (and verifies) every layer again.
- Safe under concurrent runs (written to a temporary file, then renamed), ignored and removed
  when damaged (each file carries a sha256 of its payload), bounded in size (least recently used
  entries go first; `$LAYERSCOPE_CACHE_MAX` bytes, default 2 GiB).
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import tempfile
from array import array
from pathlib import Path

from .layerreader import BlobLocation
from .records import LayerIndex

MAGIC = b"LSCACHE1"
FORMAT = 5  # bump when LayerIndex or the reader's output changes
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
        [getattr(index, c).tobytes() for c in _COLUMNS],
        bytes(index.digests),
        index.links,
        index.extras,
        [getattr(index, m) for m in _META],
    )
    return marshal.dumps(payload)


def _load(data: bytes) -> LayerIndex:
    paths, types, flags, cols, digests, links, extras, meta = marshal.loads(data)
    index = LayerIndex.empty()
    index.paths = paths
    index.types = bytearray(types)
    index.flags = bytearray(flags)
    for name, raw in zip(_COLUMNS, cols, strict=True):
        col: array = getattr(index, name)
        col.frombytes(raw)
    index.digests = bytearray(digests)
    index.links = links
    index.extras = extras
    for name, value in zip(_META, meta, strict=True):
        setattr(index, name, value)
    n = len(paths)
    if (
        not (len(index.types) == len(index.flags) == len(index.sizes) == n)
        or len(index.digests) != 32 * n
    ):
        raise ValueError("inconsistent cache entry")
    return index


class LayerCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_dir()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.idx"

    def get(self, key: str, loc: BlobLocation | None = None) -> LayerIndex | None:
        """The cached index, if any; with `loc`, only if the blob there is the one that was
        read (see the module's note on trust)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            if data[:8] != MAGIC or hashlib.sha256(data[40:]).digest() != data[8:40]:
                raise ValueError("damaged")
            index = _load(data[40:])
        except Exception:  # damaged or from another version: forget it
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        if loc is not None and not self._same_blob(path, index, loc):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used
        return index

    def _same_blob(self, path: Path, index: LayerIndex, loc: BlobLocation) -> bool:
        try:
            seen = path.with_suffix(f".{_identity(loc)}.seen")
            if seen.exists():
                return True
            if not index.verified or _blob_digest(loc) != index.digest:
                return False
            seen.touch()
            return True
        except OSError:
            return False

    def put(self, key: str, index: LayerIndex) -> None:
        payload = _dump(index)
        data = MAGIC + hashlib.sha256(payload).digest() + payload
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            self._trim()
        except OSError:
            return  # a cache that cannot be written is no cache, not an error

    def _trim(self) -> None:
        limit = _max_bytes()
        entries = []
        total = 0
        for p in self.root.glob("*/*.idx"):  # an entry's .seen markers go with it
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
            for marker in p.parent.glob(p.stem + ".*.seen"):
                with contextlib.suppress(OSError):
                    marker.unlink()
            if total <= limit:
                return
