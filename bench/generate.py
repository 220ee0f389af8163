"""Write reproducible benchmark archives (docker-archive format, uncompressed layers).

    python3 bench/generate.py OUTDIR [--only NAME ...] [--scale 0.1]
    python3 bench/generate.py --out OUTDIR --only nodemod --scale 0.1

- big:      about 1.46 GB, 13 layers, ~132,000 entries: a Debian-like base, then churn (files
            overwritten, rewritten identically, chmod-ed, deleted, directories deleted, an
            opaque dir).
- many:     500,000 small files in 4 layers.
- deep:     100 layers, each changing a little of the one below.
- nodemod:  1,000,000 entries in one layer shaped like a node_modules tree: scoped and plain
            packages with nested node_modules (paths past 100 bytes, so GNU long names), tiny
            files (package.json, *.js, *.d.ts, *.js.map, README.md, LICENSE), .bin symlinks,
            a few contents stored many times (LICENSE texts, packages installed twice).
- nodemod2: nodemod plus a second layer that changes about a tenth of it: 9 % of the files
            rewritten, a whole package directory and a few files deleted (whiteouts), and
            one new package installed.

`--scale` multiplies every count. The same seed always gives the same bytes, so runs on
different days compare. Writing is a streaming pass with hand-made tar headers (byte for byte
what tarfile's GNU format writes, several times faster) and the layer's sha256 computed in a
thread while the next entries are made; each layer is written straight into the archive, so the
1,000,000-entry archive (2.1 GB) takes about 20 s of CPU.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import itertools
import json
import math
import random
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

POOL_SIZE = 64 << 20
MTIME = 1_700_000_000
FLUSH = 1 << 20  # bytes gathered before one write (and one hash update)

# An entry of a layer: ("file", path, size, mode) | ("dir", path) | ("wh", path) | ("opq", dir)
# | ("symlink", path, target) | ("same", path, seed_of_content, size, mode)
# | ("key", path, key, size, mode): content fixed by `key` (see Pool.keyed), made in O(size).
Entry = tuple


class Pool:
    """Deterministic content: slices of one seeded random buffer, salted so files differ."""

    def __init__(self, seed: int) -> None:
        self.buf = random.Random(seed).randbytes(POOL_SIZE)

    def content(self, rng: random.Random, size: int) -> bytes:
        if size <= 0:
            return b""
        out = []
        while size > 0:
            n = min(size, POOL_SIZE // 2)
            start = rng.randrange(0, POOL_SIZE - n)
            out.append(self.buf[start : start + n])
            size -= n
        data = b"".join(out)
        salt = rng.randbytes(8)
        return salt + data[8:] if len(data) > 8 else salt[: len(data)]

    def keyed(self, key: int, size: int) -> bytes:
        """`size` bytes that only `key` (and the size) decide: the same key gives the same
        content wherever it is written, different keys give different contents (the key is
        the first 8 bytes). No random generator is made, so a million files cost little."""
        if size <= 0:
            return b""
        salt = key.to_bytes(8, "little")
        if size <= 8:
            return salt[:size]
        size = min(size, POOL_SIZE // 2)
        start = (key * 0x9E3779B1) % (POOL_SIZE - size)
        return salt + self.buf[start + 8 : start + size]


# -- tar headers -------------------------------------------------------------------------------
GNU_MAGIC = b"ustar  \0"
POSIX_MAGIC = b"ustar\x0000"
TYPES = {"file": b"0", "hardlink": b"1", "symlink": b"2", "dir": b"5"}
ZERO8 = b"0000000\0"
NO_DEVICE = bytes(16)  # devmajor, devminor: empty unless a device, as tarfile writes them
PADS = [bytes(-n % 512) for n in range(512)]  # the zeros after n bytes of a member's data
# (field bytes, their sum): what does not change from one header to the next, summed once
_MODES: dict[int, tuple[bytes, int]] = {}
_TAILS: dict[tuple[bytes, bytes], tuple[bytes, int]] = {}
_MTIMES: dict[int, tuple[bytes, int]] = {}


def _octal(n: int, digits: int) -> bytes:
    if not 0 <= n < 8 ** (digits - 1):
        raise ValueError(f"{n} does not fit {digits} octal digits")
    return b"%0*o\0" % (digits - 1, n)


def _summed(field: bytes) -> tuple[bytes, int]:
    return field, sum(field)


def tar_header(
    name: bytes,
    type_: bytes,
    size: int = 0,
    mode: int = 0o644,
    link: bytes = b"",
    mtime: int = MTIME,
    magic: bytes = GNU_MAGIC,
) -> bytes:
    """One tar header block, byte for byte what `TarInfo.tobuf(GNU_FORMAT)` writes for the
    same fields (uid/gid 0, no user or group names), GNU long-name and long-link blocks
    first when a name or target is longer than 100 bytes. The checksum adds up only the
    bytes that change (the names, the size); the rest are summed once per value."""
    out = b""
    if magic == GNU_MAGIC:
        if len(link) > 100:
            out += _long(link, b"K")
        if len(name) > 100:
            out += _long(name, b"L")
    m = _MODES.get(mode) or _MODES.setdefault(mode, _summed(_octal(mode & 0o7777, 8) + ZERO8 * 2))
    t = _MTIMES.get(mtime) or _MTIMES.setdefault(mtime, _summed(_octal(mtime, 12)))
    tail = _TAILS.get((type_, magic))
    if tail is None:  # the checksum field's last byte (a space) starts it
        tail = _TAILS[type_, magic] = _summed(magic + bytes(64) + NO_DEVICE + bytes(155 + 12))
    name = name[:100]
    link = link[:100]
    s = _octal(size, 12)
    checksum = sum(name) + m[1] + sum(s) + t[1] + 8 * 32 + type_[0] + sum(link) + tail[1]
    return b"".join(
        (
            out,
            name,
            bytes(100 - len(name)),
            m[0],
            s,
            t[0],
            b"%06o\0 " % checksum,
            type_,
            link,
            bytes(100 - len(link)),
            tail[0],
        )
    )


def _long(name: bytes, type_: bytes) -> bytes:
    data = name + b"\0"
    block = tar_header(b"././@LongLink", type_, len(data), 0, mtime=0)
    return block + data + bytes(-len(data) % 512)


class LayerWriter:
    """A layer tar streamed to a file while its sha256 (the diff_id) is computed; the bytes
    are gathered into 1 MiB pieces, each written and hashed in a thread (both release the GIL)
    while the next piece is made."""

    def __init__(self, f: BinaryIO, pool: Pool) -> None:
        self.f = f
        self.pool = pool
        self.h = hashlib.sha256()
        self.entries = 0
        self.size = 0
        self._parts: list[bytes] = []
        self._gathered = 0
        self._io = ThreadPoolExecutor(1)
        self._last: Future[None] | None = None

    def _sink(self, data: bytes) -> None:
        self.f.write(data)
        self.h.update(data)

    def _flush(self) -> None:
        data = b"".join(self._parts)
        self._parts.clear()
        self._gathered = 0
        self.size += len(data)
        if self._last is not None:
            self._last.result()
        self._last = self._io.submit(self._sink, data)

    def add(
        self, name: str, kind: str = "file", data: bytes = b"", mode: int = 0o644, link: str = ""
    ) -> None:
        if kind == "dir" and not name.endswith("/"):
            name += "/"
        block = tar_header(name.encode(), TYPES[kind], len(data), mode, link.encode())
        if data:
            block = b"".join((block, data, PADS[len(data) % 512]))
        self._parts.append(block)
        self._gathered += len(block)
        self.entries += 1
        if self._gathered >= FLUSH:
            self._flush()

    def write(self, entries: Iterable[Entry], rng: random.Random) -> None:
        """Write each entry (see Entry), content from the pool."""
        pool, add = self.pool, self.add
        for e in entries:
            kind = e[0]
            if kind == "key":
                add(e[1], "file", pool.keyed(e[2], e[3]), e[4])
            elif kind == "dir":
                add(e[1], "dir", mode=0o755)
            elif kind == "file":
                add(e[1], "file", pool.content(rng, e[2]), e[3])
            elif kind == "same":  # content fixed by its own seed: identical wherever it is
                add(e[1], "file", pool.content(random.Random(e[2]), e[3]), e[4])
            elif kind == "symlink":
                add(e[1], "symlink", mode=0o777, link=e[2])
            elif kind == "wh":
                d, _, b = e[1].rpartition("/")
                add(f"{d}/.wh.{b}" if d else f".wh.{b}", mode=0)
            elif kind == "opq":
                add(f"{e[1]}/.wh..wh..opq", mode=0)

    def close(self) -> str:
        self._parts.append(bytes(1024))
        self._flush()
        assert self._last is not None
        self._last.result()
        self._io.shutdown()
        return "sha256:" + self.h.hexdigest()


class ArchiveWriter:
    """The outer (docker save) tar, written in one pass: a member's header is written once its
    size and name (the layer's diff_id) are known, in a block kept free before its data."""

    def __init__(self, path: Path) -> None:
        self.f = path.open("wb")

    def member(self, name: str, data: bytes) -> None:
        self.f.write(tar_header(name.encode(), b"0", len(data), 0o644, magic=POSIX_MAGIC))
        self.f.write(data + bytes(-len(data) % 512))

    def layer(self, entries: Iterable[Entry], pool: Pool, rng: random.Random) -> tuple[str, int]:
        """Stream one layer in; its diff_id and entry count."""
        start = self.f.tell()
        self.f.write(bytes(512))
        lw = LayerWriter(self.f, pool)
        lw.write(entries, rng)
        diff_id = lw.close()
        self.f.write(bytes(-lw.size % 512))
        end = self.f.tell()
        self.f.seek(start)
        self.f.write(
            tar_header(f"{diff_id[7:]}.tar".encode(), b"0", lw.size, 0o644, magic=POSIX_MAGIC)
        )
        self.f.seek(end)
        return diff_id, lw.entries

    def close(self) -> None:
        self.f.write(bytes(1024))
        self.f.close()


def write_archive(
    out: Path, name: str, layers: list[Iterable[Entry]], pool: Pool, seed: int
) -> tuple[Path, list[int]]:
    """The archive `out/name.tar` of these layers; its path and each layer's entry count."""
    path = out / f"{name}.tar"
    tmp = out / f".{name}.tar.tmp"
    aw = ArchiveWriter(tmp)
    diff_ids, counts = [], []
    for n, entries in enumerate(layers):
        diff_id, count = aw.layer(entries, pool, random.Random(seed * 1000 + n))
        diff_ids.append(diff_id)
        counts.append(count)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"RUN step {i}"} for i in range(len(diff_ids))],
        "config": {"Cmd": ["/bin/sh"]},
    }
    cfg = json.dumps(config).encode()
    chex = hashlib.sha256(cfg).hexdigest()
    manifest = [
        {
            "Config": f"{chex}.json",
            "RepoTags": [f"bench/{name}:1"],
            "Layers": [f"{d[7:]}.tar" for d in diff_ids],
        }
    ]
    aw.member(f"{chex}.json", cfg)
    aw.member("manifest.json", json.dumps(manifest).encode())
    aw.close()
    tmp.replace(path)
    return path, counts


# -- the first three shapes --------------------------------------------------------------------
def _size(rng: random.Random, mean: int) -> int:
    return min(int(rng.lognormvariate(0, 1.6) * mean / 3.6), mean * 400)


def _tree(rng: random.Random, prefix: str, ndirs: int, nfiles: int, mean: int):
    dirs = [prefix]
    entries: list[Entry] = [("dir", prefix)]
    for i in range(ndirs):
        parent = rng.choice(dirs)
        d = f"{parent}/d{i}"
        dirs.append(d)
        entries.append(("dir", d))
    paths = []
    for i in range(nfiles):
        p = f"{rng.choice(dirs)}/f{i}.bin"
        paths.append(p)
        entries.append(("file", p, _size(rng, mean), 0o644))
    return entries, dirs, paths


def big(scale: float) -> list[Iterable[Entry]]:
    rng = random.Random(1)
    n = int(100_000 * scale)
    base, dirs, paths = _tree(rng, "usr", int(n * 0.08), n, 4_600)
    base = [("dir", "etc"), ("symlink", "lib", "usr/lib"), ("dir", "usr/lib"), *base]
    layers: list[Iterable[Entry]] = [base]
    for step in range(12):
        r = random.Random(100 + step)
        layer: list[Entry] = [("dir", "usr")]
        pick = r.sample(paths, min(len(paths), int(n * 0.01)))
        for p in pick[: len(pick) // 3]:  # overwritten with new content
            layer.append(("file", p, _size(r, 40_000), 0o644))
        for p in pick[len(pick) // 3 : 2 * len(pick) // 3]:  # deleted
            layer.append(("wh", p))
        for i, p in enumerate(pick[2 * len(pick) // 3 :]):  # rewritten identically / chmod
            layer.append(("same", p, zlib.crc32(p.encode()), 3000, 0o755 if i % 2 else 0o644))
        sub = r.choice(dirs[1:])
        layer.append(("wh", sub))  # a whole directory deleted
        new_dir = f"opt/step{step}"
        layer += [("dir", "opt"), ("dir", new_dir)]
        layer += [
            ("file", f"{new_dir}/n{i}", _size(r, 60_000), 0o644) for i in range(int(n * 0.01))
        ]
        if step == 5:
            layer.append(("opq", "usr/lib"))
        layers.append(layer)
    return layers


def many(scale: float) -> list[Iterable[Entry]]:
    rng = random.Random(2)
    n = int(500_000 * scale)
    layers: list[Iterable[Entry]] = []
    for k in range(4):
        entries, _dirs, _paths = _tree(rng, f"data{k}", n // 400, n // 4, 200)
        layers.append(entries)
    return layers


def deep(scale: float) -> list[Iterable[Entry]]:
    rng = random.Random(3)
    n = int(20_000 * scale)
    base, _dirs, paths = _tree(rng, "app", n // 50, n, 2_000)
    layers: list[Iterable[Entry]] = [base]
    for step in range(99):
        r = random.Random(300 + step)
        layer: list[Entry] = []
        for p in r.sample(paths, max(1, n // 200)):
            layer.append(("file", p, _size(r, 2_000), 0o644))
        layer.append(("wh", r.choice(paths)))
        layers.append(layer)
    return layers


# -- node_modules ------------------------------------------------------------------------------
def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SCOPES = _words(
    "@babel @types @aws-sdk @angular @jest @smithy @typescript-eslint @emotion @mui "
    "@octokit @sentry @vue @nestjs @opentelemetry @radix-ui @rollup @esbuild @swc @tanstack "
    "@nodelib"
)
SYLLABLES = _words(
    "lo dash re act ex press web pack roll up es lint type script mo ment ax ios uu id de "
    "bug glob yargs sem ver com mand node core util fs path string color parse stream "
    "buffer async promise event emit safe is has get to array object map source match brace "
    "micro fast deep equal merge clone rim raf chalk ansi styles strip wrap cli http proxy "
    "agent json schema ajv jsx css"
)
DIR_WORDS = _words(
    "lib dist src esm cjs build es umd types internal utils helpers operators plugins core "
    "compat modules commands parsers rules locale fp server client shared node browser "
    "legacy polyfills transforms generated config testing scheduler"
)
FILE_WORDS = _words(
    "index main utils helpers types constants parse format compile runtime errors stream "
    "buffer client server request response options config loader plugin scope context "
    "visitor traverse generate tokenize printer cache hash merge clone debounce throttle "
    "map filter reduce create define validate schema encode decode polyfill shim browser "
    "async sync events emitter queue pool subscribe observable operator"
)
# extension, weight, median size in bytes
EXTENSIONS = (
    (".js", 45, 900),
    (".d.ts", 25, 450),
    (".js.map", 10, 1_800),
    (".mjs", 7, 900),
    (".cjs", 5, 900),
    (".json", 4, 700),
    (".ts", 4, 1_100),
)
_EXT_CUM = list(itertools.accumulate(w for _e, w, _m in EXTENSIONS))
LICENSES = 7  # distinct LICENSE texts: every package stores one of them
TOP = "app/node_modules"


# 4,096 draws of a lognormal (median 1, sigma 1): a file's size is its median times one of
# them, picked with one call to the generator instead of the dozen lognormvariate makes
_SPREAD = (lambda r: [r.lognormvariate(0, 1.0) for _ in range(4_096)])(random.Random(11))


def _file_size(rng: random.Random, median: int) -> int:
    return min(int(median * _SPREAD[rng.getrandbits(12)]), 256 << 10)


def _pick(rng: random.Random, words: tuple[str, ...]) -> str:
    return words[int(rng.random() * len(words))]


class Package:
    """One installed package, planned before it is written so that entries can be counted:
    its files are laid out from its own seed (`key`), so a package installed twice (the same
    object as a dependency in two places) is stored twice with the same contents."""

    __slots__ = ("bin", "deps", "dirs", "entries", "files", "key", "name")

    def __init__(
        self, name: str, key: int, files: int, dirs: int, bin_: str | None, deps: list[Package]
    ) -> None:
        self.name, self.key, self.files, self.dirs, self.bin = name, key, files, dirs, bin_
        self.deps = deps
        self.entries = 1 + dirs + files + (2 if bin_ else 0)
        if deps:
            self.entries += 1 + _modules_overhead(deps) + sum(d.entries for d in deps)

    def write(self, path: str) -> Iterator[Entry]:
        """The entries of the package at `path` (its directory), depth first."""
        rng = random.Random(self.key)
        yield ("dir", path)
        base = self.key * 10_000
        yield ("key", f"{path}/package.json", base, _file_size(rng, 900), 0o644)
        yield ("key", f"{path}/README.md", base + 1, _file_size(rng, 2_500), 0o644)
        yield ("key", f"{path}/LICENSE", 1 + self.key % LICENSES, 1_080, 0o644)
        if self.bin:
            yield ("dir", f"{path}/bin")
            yield ("key", f"{path}/bin/{self.bin}.js", base + 2, _file_size(rng, 1_500), 0o755)
        children: list[list[int]] = [[] for _ in range(self.dirs + 1)]
        names = [""]
        taken: set[tuple[int, str]] = set()
        for i in range(1, self.dirs + 1):  # each directory under an earlier one
            parent = int(rng.random() * i)
            name = _pick(rng, DIR_WORDS)
            if (parent, name) in taken:
                name = f"{name}{i}"
            taken.add((parent, name))
            children[parent].append(i)
            names.append(name)
        files: list[list[Entry]] = [[] for _ in range(self.dirs + 1)]
        places = self.dirs + 1
        for i in range(3, self.files):
            d = int(rng.random() * places)
            ext, _w, median = EXTENSIONS[bisect.bisect(_EXT_CUM, rng.random() * _EXT_CUM[-1])]
            name = _pick(rng, FILE_WORDS) + ext
            if (d, name) in taken:
                name = f"{name[: -len(ext)]}{i}{ext}"
            taken.add((d, name))
            files[d].append(("key", name, base + i, _file_size(rng, median), 0o644))
        stack = [(0, path)]
        while stack:
            d, dpath = stack.pop()
            if d:
                yield ("dir", dpath)
            for _k, name, key, size, mode in files[d]:
                yield ("key", f"{dpath}/{name}", key, size, mode)
            stack.extend((c, f"{dpath}/{names[c]}") for c in reversed(children[d]))
        if self.deps:
            yield from _modules(f"{path}/node_modules", self.deps)


def _modules_overhead(packages: list[Package]) -> int:
    """Entries of a node_modules directory besides its packages' own: .bin and its links,
    one directory per scope."""
    bins = sum(1 for p in packages if p.bin)
    return (1 + bins if bins else 0) + len(
        {p.name.split("/")[0] for p in packages if "/" in p.name}
    )


def _modules(path: str, packages: list[Package]) -> Iterator[Entry]:
    """A node_modules directory: itself, .bin with a link per command, then the packages in
    name order (each scope's directory before its packages)."""
    yield ("dir", path)
    bins = [p for p in packages if p.bin]
    if bins:
        yield ("dir", f"{path}/.bin")
        for p in bins:
            yield ("symlink", f"{path}/.bin/{p.bin}", f"../{p.name}/bin/{p.bin}.js")
    scope = ""
    for p in sorted(packages, key=lambda p: p.name):
        if "/" in p.name and p.name.split("/")[0] != scope:
            scope = p.name.split("/")[0]
            yield ("dir", f"{path}/{scope}")
        yield from p.write(f"{path}/{p.name}")


class Planner:
    """Plans packages: names unique where they are installed, sizes long-tailed (most packages
    a few dozen files, a few thousands), nested node_modules a few levels deep."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.keys = itertools.count(1_000)
        self.top: list[Package] = []  # candidates to be installed twice

    def name(self, taken: set[str]) -> str:
        rng = self.rng
        while True:
            base = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
            if rng.random() < 0.3:
                base += "-" + rng.choice(SYLLABLES)
            name = f"{rng.choice(SCOPES)}/{base}" if rng.random() < 0.22 else base
            if name not in taken:
                taken.add(name)
                return name

    def package(self, taken: set[str], depth: int = 0) -> Package:
        rng = self.rng
        if depth and self.top and rng.random() < 0.06:  # the same package, installed again
            twin = self.top[rng.randrange(len(self.top))]
            if twin.name not in taken and twin.entries < 400:
                taken.add(twin.name)
                return twin
        median = 40 if depth == 0 else 12
        files = min(max(4, int(rng.lognormvariate(math.log(median), 1.3))), 6_000)
        dirs = int(files**0.6 * rng.uniform(0.2, 1.0))
        name = self.name(taken)
        bin_ = name.split("/")[-1] if rng.random() < 0.08 else None
        deps: list[Package] = []
        if depth < 4 and rng.random() < (0.3 if depth == 0 else 0.15):
            mine: set[str] = set()
            deps = [self.package(mine, depth + 1) for _ in range(rng.randint(1, 4))]
        p = Package(name, next(self.keys), files, dirs, bin_, deps)
        if depth == 0:
            self.top.append(p)
        return p

    def packages(self, entries: int) -> list[Package]:
        """Top-level packages, enough for `entries` entries in all."""
        taken: set[str] = set()
        packages: list[Package] = []
        total = 0
        while total < entries:
            packages.append(self.package(taken))
            total = packages[-1].entries + total
        return packages


def _app(packages: list[Package]) -> Iterator[Entry]:
    yield ("dir", "app")
    yield ("key", "app/package.json", 10, 2_400, 0o644)
    yield ("key", "app/package-lock.json", 11, min(len(packages) * 300, 8 << 20), 0o644)
    yield from _modules(TOP, packages)


def _nodemod_plan(scale: float) -> tuple[int, list[Package], Planner]:
    n = max(100, int(1_000_000 * scale))
    planner = Planner(7)
    return n, planner.packages(n), planner


def nodemod(scale: float) -> list[Iterable[Entry]]:
    n, packages, _planner = _nodemod_plan(scale)
    return [itertools.islice(_app(packages), n)]


REWRITTEN = 0.09  # the share of nodemod's files nodemod2 stores again with new content
WHITEOUTS = 8  # files nodemod2 deletes one by one, at scale 1 (besides one whole package)


def _changes(
    base: Iterable[Entry], gone: str, files: int, whiteouts: int, extra: Package
) -> Iterator[Entry]:
    """The second layer of nodemod2: about a tenth of `base` changed — the package directory
    `gone` deleted with one whiteout, REWRITTEN of the files (of `files`) stored again with
    new content, about `whiteouts` files deleted one by one — and `extra` installed; every
    directory holding a change is stored too, before it, as docker stores the directories of
    a changed path. Whiteouts are few on purpose: dive walks its whole tree for each one (about
    14 µs per entry each, measured with dive 0.13.1), so thousands of them on a million entries
    would measure only that."""
    rng = random.Random(77)
    stored: set[str] = set()
    deleted = whiteouts / max(files, 1)

    def parents(path: str) -> Iterator[Entry]:
        parts = path.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in stored:
                stored.add(d)
                yield ("dir", d)

    inside = gone + "/"
    for e in base:
        path = e[1]
        if path == gone:
            yield from parents(path)
            yield ("wh", path)
            continue
        if e[0] != "key" or path.startswith(inside):
            continue
        r = rng.random()
        if r < REWRITTEN:
            yield from parents(path)
            yield ("key", path, e[2] + 7_000_000_000_000, max(0, e[3] + rng.randint(-64, 64)), e[4])
        elif r < REWRITTEN + deleted:
            yield from parents(path)
            yield ("wh", path)
    yield from extra.write(f"{TOP}/{extra.name}")


def nodemod2(scale: float) -> list[Iterable[Entry]]:
    n, packages, planner = _nodemod_plan(scale)
    # the whole package deleted: the biggest one of 2 % of the entries or less
    gone = max((p for p in packages[:-1] if p.entries <= max(50, n // 50)), key=lambda p: p.entries)
    extra = planner.package({p.name for p in packages})
    files = sum(1 for e in itertools.islice(_app(packages), n) if e[0] == "key")
    whiteouts = max(2, round(WHITEOUTS * scale))
    return [
        itertools.islice(_app(packages), n),
        _changes(
            itertools.islice(_app(packages), n), f"{TOP}/{gone.name}", files, whiteouts, extra
        ),
    ]


KINDS = {"big": big, "many": many, "deep": deep, "nodemod": nodemod, "nodemod2": nodemod2}


def generate(out: Path, name: str, scale: float, pool: Pool) -> dict:
    """Write one archive and a note beside it (NAME.json: entries per layer, bytes, seconds)."""
    t = time.perf_counter()
    path, counts = write_archive(out, name, KINDS[name](scale), pool, seed=len(name))
    note = {
        "archive": path.name,
        "scale": scale,
        "bytes": path.stat().st_size,
        "entries": sum(counts),
        "layer_entries": counts,
        "seconds": round(time.perf_counter() - t, 2),
    }
    (out / f"{name}.json").write_text(json.dumps(note) + "\n")
    return note


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("outdir", nargs="?", help="where the archives go (or --out)")
    ap.add_argument("--out", help="where the archives go")
    ap.add_argument("--only", choices=sorted(KINDS), action="append")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the full size")
    args = ap.parse_args()
    where = args.out or args.outdir
    if not where:
        ap.error("say where the archives go: OUTDIR or --out OUTDIR")
    out = Path(where)
    out.mkdir(parents=True, exist_ok=True)
    pool = Pool(42)
    for name in args.only or list(KINDS):
        note = generate(out, name, args.scale, pool)
        print(
            f"{out / note['archive']}\t{note['bytes']} bytes\t{note['entries']} entries"
            f"\t{note['seconds']} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
