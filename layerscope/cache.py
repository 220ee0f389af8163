"""A cache of layer indexes in the user's cache directory, so re-opening an image (or opening
another that shares its layers) skips the layers already read.

- Where: `$LAYERSCOPE_CACHE_DIR`, else `$XDG_CACHE_HOME/layerscope`, else `~/.cache/layerscope`.
- Key: the layer's claimed blob digest and diff_id, its stored size and a hash of its first and
  last 64 KiB. A hit trusts the digests checked when the entry was written; `--no-cache` reads
  (and verifies) every layer again.
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
FORMAT = 3  # bump when LayerIndex or the reader's output changes
SAMPLE = 64 << 10
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
    h = hashlib.sha256(f"{FORMAT}|{diff_id}|{digest}|{loc.size}|{verified}".encode())
    with open(loc.file, "rb") as f:
        f.seek(loc.offset)
        h.update(f.read(min(SAMPLE, loc.size)))
        if loc.size > SAMPLE:
            f.seek(loc.offset + max(SAMPLE, loc.size - SAMPLE))
            h.update(f.read(SAMPLE))
    return h.hexdigest()


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

    def get(self, key: str) -> LayerIndex | None:
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
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used
        return index

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
        for p in self.root.glob("*/*.idx"):
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
            if total <= limit:
                return
