"""Write reproducible benchmark archives (docker-archive format, uncompressed layers).

    python3 bench/generate.py OUTDIR [--only big|many|deep] [--scale 0.1]

- big:  about 1.3 GB, 13 layers, ~117,000 entries: a Debian-like base, then churn (files
        overwritten, rewritten identically, chmod-ed, deleted, directories deleted, an opaque dir).
- many: 500,000 small files in 4 layers.
- deep: 100 layers, each changing a little of the one below.

The same seed always gives the same bytes, so runs on different days compare.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import tarfile
import zlib
from pathlib import Path

POOL_SIZE = 64 << 20


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


class LayerWriter:
    """A layer tar streamed to disk while its sha256 (the diff_id) is computed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.f = path.open("wb")
        self.h = hashlib.sha256()
        self.entries = 0

    def _w(self, data: bytes) -> None:
        self.f.write(data)
        self.h.update(data)

    def add(self, name: str, kind: str = "file", data: bytes = b"", mode: int = 0o644,
            link: str = "") -> None:  # fmt: skip
        ti = tarfile.TarInfo(name)
        ti.mtime = 1_700_000_000
        ti.mode = mode
        ti.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                   "hardlink": tarfile.LNKTYPE}[kind]  # fmt: skip
        ti.linkname = link
        ti.size = len(data) if kind == "file" else 0
        self._w(ti.tobuf(tarfile.GNU_FORMAT))
        if data:
            self._w(data)
            pad = -len(data) % 512
            if pad:
                self._w(bytes(pad))
        self.entries += 1

    def close(self) -> str:
        self._w(bytes(1024))
        self.f.close()
        return "sha256:" + self.h.hexdigest()


def _size(rng: random.Random, mean: int) -> int:
    return min(int(rng.lognormvariate(0, 1.6) * mean / 3.6), mean * 400)


def write_archive(out: Path, name: str, layers: list[list[tuple]], pool: Pool, seed: int) -> Path:
    """layers: lists of ("file", path, size, mode) | ("dir", path) | ("wh", path) | ("opq", dir)
    | ("symlink", path, target) | ("same", path, seed_of_content, size, mode)."""
    work = out / f"{name}.d"
    work.mkdir(parents=True, exist_ok=True)
    diff_ids, files = [], []
    for n, entries in enumerate(layers):
        lw = LayerWriter(work / f"layer{n}.tar")
        rng = random.Random(seed * 1000 + n)
        for e in entries:
            kind = e[0]
            if kind == "file":
                lw.add(e[1], "file", pool.content(rng, e[2]), e[3])
            elif kind == "same":  # content fixed by its own seed: identical wherever it is written
                lw.add(e[1], "file", pool.content(random.Random(e[2]), e[3]), e[4])
            elif kind == "dir":
                lw.add(e[1] + "/", "dir", mode=0o755)
            elif kind == "symlink":
                lw.add(e[1], "symlink", link=e[2], mode=0o777)
            elif kind == "wh":
                d, _, b = e[1].rpartition("/")
                lw.add(f"{d}/.wh.{b}" if d else f".wh.{b}", mode=0)
            elif kind == "opq":
                lw.add(f"{e[1]}/.wh..wh..opq", mode=0)
        diff_ids.append(lw.close())
        files.append(lw.path)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"RUN step {i}"} for i in range(len(layers))],
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
    path = out / f"{name}.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for d, f in zip(diff_ids, files, strict=True):
            tf.add(f, arcname=f"{d[7:]}.tar")
        for member, data in (
            (f"{chex}.json", cfg),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            ti = tarfile.TarInfo(member)
            ti.size = len(data)
            import io

            tf.addfile(ti, io.BytesIO(data))
    for f in files:
        f.unlink()
    work.rmdir()
    return path


def _tree(rng: random.Random, prefix: str, ndirs: int, nfiles: int, mean: int):
    dirs = [prefix]
    entries: list[tuple] = [("dir", prefix)]
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


def big(scale: float) -> list[list[tuple]]:
    rng = random.Random(1)
    n = int(100_000 * scale)
    base, dirs, paths = _tree(rng, "usr", int(n * 0.08), n, 4_600)
    base = [("dir", "etc"), ("symlink", "lib", "usr/lib"), ("dir", "usr/lib"), *base]
    layers = [base]
    for step in range(12):
        r = random.Random(100 + step)
        layer: list[tuple] = [("dir", "usr")]
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


def many(scale: float) -> list[list[tuple]]:
    rng = random.Random(2)
    n = int(500_000 * scale)
    layers = []
    for k in range(4):
        entries, _dirs, _paths = _tree(rng, f"data{k}", n // 400, n // 4, 200)
        layers.append(entries)
    return layers


def deep(scale: float) -> list[list[tuple]]:
    rng = random.Random(3)
    n = int(20_000 * scale)
    base, _dirs, paths = _tree(rng, "app", n // 50, n, 2_000)
    layers = [base]
    for step in range(99):
        r = random.Random(300 + step)
        layer: list[tuple] = []
        for p in r.sample(paths, max(1, n // 200)):
            layer.append(("file", p, _size(r, 2_000), 0o644))
        layer.append(("wh", r.choice(paths)))
        layers.append(layer)
    return layers


KINDS = {"big": big, "many": many, "deep": deep}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--only", choices=sorted(KINDS), action="append")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the full size")
    args = ap.parse_args()
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    pool = Pool(42)
    for name in args.only or sorted(KINDS):
        path = write_archive(out, name, KINDS[name](args.scale), pool, seed=len(name))
        print(f"{path}\t{os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
