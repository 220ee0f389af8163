"""Build image archives for tests from a few lines of description.

    layer = Layer(File("etc/motd", b"hi"), Dir("var"), Whiteout("etc/old"), Opaque("opt"))
    img = Img([layer, Layer(...)], tag="app:1")
    docker_archive(tmp_path / "a.tar", [img])      # or oci_archive, oci_dir, docker25, docker_dir

Layers are written with Python's tarfile, so the reader under test is checked against an
independent writer. What tarfile cannot write is made by hand: `tar_header` (any field, base-256
numbers), `pax_member`, `gnu_sparse_member` and `pax_sparse_member` (GNU old sparse, PAX 0.0, 0.1
and 1.0), with `padded` and `END` to assemble a tar.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

# -- entries -------------------------------------------------------------------------------


@dataclass
class File:
    path: str
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 0


@dataclass
class Dir:
    path: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0


@dataclass
class Symlink:
    path: str
    target: str


@dataclass
class Hardlink:
    path: str
    target: str


@dataclass
class Whiteout:
    """`dir/.wh.NAME` deleting `dir/NAME`."""

    path: str


@dataclass
class Opaque:
    """`dir/.wh..wh..opq`."""

    dir: str


@dataclass
class Device:
    path: str
    kind: str = "char"  # char | block | fifo
    major: int = 0
    minor: int = 0


@dataclass
class Raw:
    """A tar member exactly as given (for odd names)."""

    info: tarfile.TarInfo
    data: bytes = b""


Entry = File | Dir | Symlink | Hardlink | Whiteout | Opaque | Device | Raw


def _info(name: str, type_: bytes, mode: int = 0o644) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mode = mode
    ti.mtime = 0
    return ti


def _split(path: str) -> tuple[str, str]:
    i = path.rfind("/")
    return (path[: i + 1], path[i + 1 :]) if i >= 0 else ("", path)


def layer_tar(*entries: Entry, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """The bytes of a layer tar holding `entries` in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for e in entries:
            if isinstance(e, File):
                ti = _info(e.path, tarfile.REGTYPE, e.mode)
                ti.size, ti.uid, ti.gid, ti.mtime = len(e.data), e.uid, e.gid, e.mtime
                tf.addfile(ti, io.BytesIO(e.data))
            elif isinstance(e, Dir):
                ti = _info(e.path + "/", tarfile.DIRTYPE, e.mode)
                ti.uid, ti.gid = e.uid, e.gid
                tf.addfile(ti)
            elif isinstance(e, Symlink):
                ti = _info(e.path, tarfile.SYMTYPE, 0o777)
                ti.linkname = e.target
                tf.addfile(ti)
            elif isinstance(e, Hardlink):
                ti = _info(e.path, tarfile.LNKTYPE)
                ti.linkname = e.target
                tf.addfile(ti)
            elif isinstance(e, Whiteout):
                d, n = _split(e.path)
                tf.addfile(_info(f"{d}.wh.{n}", tarfile.REGTYPE, 0))
            elif isinstance(e, Opaque):
                prefix = e.dir + "/" if e.dir else ""
                tf.addfile(_info(prefix + ".wh..wh..opq", tarfile.REGTYPE, 0))
            elif isinstance(e, Device):
                t = {"char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}
                ti = _info(e.path, t[e.kind])
                ti.devmajor, ti.devminor = e.major, e.minor
                tf.addfile(ti)
            elif isinstance(e, Raw):
                e.info.size = len(e.data)
                tf.addfile(e.info, io.BytesIO(e.data) if e.data else None)
    return buf.getvalue()


def compress(data: bytes, kind: str | None) -> bytes:
    if kind in (None, "none"):
        return data
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    if kind == "gzip-multi":  # pigz/eStargz style: several members
        half = len(data) // 2
        return gzip.compress(data[:half], mtime=0) + gzip.compress(data[half:], mtime=0)
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if kind == "zstd-multi":  # zstd:chunked style: several frames and a skippable frame
        c = zstandard.ZstdCompressor()
        half = len(data) // 2
        skip = (0x184D2A50).to_bytes(4, "little") + (4).to_bytes(4, "little") + b"meta"
        return c.compress(data[:half]) + skip + c.compress(data[half:]) + skip
    if kind == "bzip2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    raise ValueError(kind)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- tar headers by hand (what tarfile cannot write: sparse files, odd number fields) -----

GNU_MAGIC = b"ustar  \0"
USTAR_MAGIC = b"ustar\x0000"


def octal(n: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, n)


def base256(n: int, width: int) -> bytes:
    """GNU's base-256 number field (two's complement, high bit set)."""
    return (n % (1 << (8 * width))).to_bytes(width, "big") if n < 0 else (
        b"\x80" + n.to_bytes(width - 1, "big")
    )  # fmt: skip


def tar_header(name: bytes, *, size: int = 0, type_: bytes = b"0", mode: int = 0o644,
               uid: int = 0, gid: int = 0, mtime: int = 0, linkname: bytes = b"",
               magic: bytes = USTAR_MAGIC, prefix: bytes = b"", devmajor: int = 0,
               devminor: int = 0, raw: dict[int, bytes] | None = None) -> bytes:  # fmt: skip
    """One 512-byte header block with a correct checksum; `raw` overwrites bytes at offsets
    (base-256 fields, GNU sparse areas) before the checksum is computed."""
    b = bytearray(512)

    def put(off: int, width: int, val: bytes) -> None:
        assert len(val) <= width, (off, val)
        b[off : off + len(val)] = val

    put(0, 100, name)
    put(100, 8, octal(mode, 8))
    put(108, 8, octal(uid, 8))
    put(116, 8, octal(gid, 8))
    put(124, 12, octal(size, 12))
    put(136, 12, octal(mtime, 12))
    put(156, 1, type_)
    put(157, 100, linkname)
    put(257, 8, magic)
    put(329, 8, octal(devmajor, 8))
    put(337, 8, octal(devminor, 8))
    put(345, 155, prefix)
    for off, val in (raw or {}).items():
        b[off : off + len(val)] = val
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\0 " % sum(b)
    return bytes(b)


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


END = bytes(1024)  # the end-of-archive marker


def pax_records(records: dict[str, bytes | str] | list[tuple[str, bytes | str]]) -> bytes:
    """The data of a PAX extended header (`LEN KEY=VALUE\\n` records, in order)."""
    items = records.items() if isinstance(records, dict) else records
    out = b""
    for key, value in items:
        v = value.encode() if isinstance(value, str) else value
        body = b" " + key.encode() + b"=" + v + b"\n"
        n = len(body) + 1
        while len(str(n).encode()) + len(body) != n:
            n += 1
        out += str(n).encode() + body
    return out


def pax_member(records, type_: bytes = b"x", name: bytes = b"PaxHeaders/x") -> bytes:
    data = pax_records(records)
    return tar_header(name, size=len(data), type_=type_) + padded(data)


def sparse_content(size: int, segments: list[tuple[int, bytes]]) -> bytes:
    """A file's logical content: zeros with `segments` (offset, data) written over them."""
    buf = bytearray(size)
    for off, data in segments:
        buf[off : off + len(data)] = data
    return bytes(buf)


def gnu_sparse_member(name: bytes, size: int, segments: list[tuple[int, bytes]]) -> bytes:
    """An old GNU sparse member (type 'S'): up to 4 map entries in the header, the rest in
    extension blocks of 21, then the segments' data back to back."""
    entries = [octal(off, 12) + octal(len(d), 12) for off, d in segments]
    data = b"".join(d for _, d in segments)
    head, rest = entries[:4], entries[4:]
    raw = {386: b"".join(head), 483: octal(size, 12)}
    if rest:
        raw[482] = b"\1"
    out = tar_header(name, size=len(data), type_=b"S", magic=GNU_MAGIC, raw=raw)
    while rest:
        chunk, rest = rest[:21], rest[21:]
        ext = bytearray(512)
        ext[: 24 * len(chunk)] = b"".join(chunk)
        ext[504] = 1 if rest else 0
        out += bytes(ext)
    return out + padded(data)


def pax_sparse_member(name: bytes, size: int, segments: list[tuple[int, bytes]],
                      version: str = "1.0") -> bytes:  # fmt: skip
    """A PAX sparse member as GNU tar writes it: `0.0` (repeated offset/numbytes records),
    `0.1` (`GNU.sparse.map`) or `1.0` (the map at the start of the data, name in the PAX)."""
    data = b"".join(d for _, d in segments)
    if version == "0.0":
        recs: list[tuple[str, bytes | str]] = [("GNU.sparse.size", str(size)),
                                               ("GNU.sparse.numblocks", str(len(segments)))]  # fmt: skip
        for off, d in segments:
            recs += [("GNU.sparse.offset", str(off)), ("GNU.sparse.numbytes", str(len(d)))]
        return pax_member(recs) + tar_header(name, size=len(data)) + padded(data)
    if version == "0.1":
        smap = ",".join(f"{off},{len(d)}" for off, d in segments)
        recs = [("GNU.sparse.size", str(size)), ("GNU.sparse.numblocks", str(len(segments))),
                ("GNU.sparse.name", name), ("GNU.sparse.map", smap)]  # fmt: skip
        return pax_member(recs) + tar_header(b"GNUSparseFile.1/x", size=len(data)) + padded(data)
    recs = [("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.name", name),
            ("GNU.sparse.realsize", str(size))]  # fmt: skip
    smap = f"{len(segments)}\n" + "".join(f"{off}\n{len(d)}\n" for off, d in segments)
    body = padded(smap.encode()) + data
    return pax_member(recs) + tar_header(b"GNUSparseFile.1/x", size=len(body)) + padded(body)


# -- images --------------------------------------------------------------------------------


@dataclass
class Layer:
    """A layer: its entries, or raw tar bytes, and how its blob is compressed."""

    entries: tuple[Entry, ...] = ()
    tar: bytes | None = None
    compression: str | None = None
    created_by: str | None = None
    media_type: str | None = None  # OCI/docker-dir descriptor mediaType, when it should lie

    def __init__(self, *entries: Entry, tar: bytes | None = None, compression: str | None = None,
                 created_by: str | None = None, media_type: str | None = None) -> None:  # fmt: skip
        self.entries = entries
        self.tar = tar
        self.compression = compression
        self.created_by = created_by
        self.media_type = media_type

    @property
    def tar_bytes(self) -> bytes:
        return self.tar if self.tar is not None else layer_tar(*self.entries)

    def blob(self, default: str | None = None) -> bytes:
        return compress(self.tar_bytes, self.compression or default)


@dataclass
class Img:
    layers: list[Layer]
    tag: str | None = "test:latest"
    os: str = "linux"
    arch: str = "amd64"
    variant: str | None = None
    history: list[dict] | None = None  # default: one step per layer from created_by
    config_extra: dict = field(default_factory=dict)

    def config(self) -> dict:
        hist = self.history
        if hist is None:
            hist = [
                {"created_by": ly.created_by or f"step {i}"} for i, ly in enumerate(self.layers)
            ]
        cfg = {
            "architecture": self.arch,
            "os": self.os,
            "rootfs": {"type": "layers", "diff_ids": [sha(ly.tar_bytes) for ly in self.layers]},
            "history": hist,
            "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]},
        }
        if self.variant:
            cfg["variant"] = self.variant
        cfg.update(self.config_extra)
        return cfg

    def config_bytes(self) -> bytes:
        return json.dumps(self.config(), sort_keys=True).encode()


class TarWriter:
    """An outer archive written member by member (files, symlinks, dirs). Members are written
    when `bytes()` is called: in the order added, or with the names in `first` moved to the
    front (`manifest.json` first, as Docker writes it; containers/image writes it last)."""

    def __init__(self) -> None:
        self.members: list[tuple[tarfile.TarInfo, bytes | None]] = []
        self.names: set[str] = set()

    def file(self, name: str, data: bytes) -> None:
        if name in self.names:
            return
        self.names.add(name)
        ti = _info(name, tarfile.REGTYPE)
        ti.size = len(data)
        self.members.append((ti, data))

    def symlink(self, name: str, target: str) -> None:
        self.names.add(name)
        ti = _info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.members.append((ti, None))

    def hardlink(self, name: str, target: str) -> None:
        self.names.add(name)
        ti = _info(name, tarfile.LNKTYPE)
        ti.linkname = target
        self.members.append((ti, None))

    def dir(self, name: str) -> None:
        self.members.append((_info(name + "/", tarfile.DIRTYPE, 0o755), None))

    def bytes(self, first: tuple[str, ...] = ()) -> bytes:
        front = [m for name in first for m in self.members if m[0].name == name]
        rest = [m for m in self.members if m[0].name not in first]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for ti, data in front + rest:
                tf.addfile(ti, io.BytesIO(data) if data is not None else None)
        return buf.getvalue()


def tar_of(files: dict[str, bytes], symlinks: dict[str, str] | None = None,
           hardlinks: dict[str, str] | None = None) -> bytes:  # fmt: skip
    """An outer archive of `files` (in order), then `symlinks` and `hardlinks` (name: target)."""
    w = TarWriter()
    for name, data in files.items():
        w.file(name, data)
    for name, target in (symlinks or {}).items():
        w.symlink(name, target)
    for name, target in (hardlinks or {}).items():
        w.hardlink(name, target)
    return w.bytes()


def raw_tar(*members: bytes, end: bool = True) -> bytes:
    """A tar assembled from hand-made members (`tar_header(...) + padded(data)`, `pax_member`)."""
    return b"".join(members) + (END if end else b"")


def _write(path: Path, data: bytes, whole: str | None = None) -> Path:
    path = Path(path)
    path.write_bytes(compress(data, whole))
    return path


def docker_archive(path: Path, images: list[Img], *, style: str = "legacy",
                   whole: str | None = None, manifest_first: bool = False) -> Path:  # fmt: skip
    """docker-archive. style: `legacy` (Docker <= 24: `<id>/layer.tar`, repeated layers as
    symlinks `../<id2>/layer.tar`), `podman` (`<diffid>.tar` + `<id>/layer.tar` symlinks),
    `blobs` (Docker 25: `blobs/sha256/<hex>` paths, no OCI index). `manifest.json` is the last
    member unless `manifest_first`."""
    w = TarWriter()
    manifest = []
    first_path: dict[str, str] = {}
    for img in images:
        cfgb = img.config_bytes()
        chex = sha(cfgb)[7:]
        cfg_name = f"blobs/sha256/{chex}" if style == "blobs" else f"{chex}.json"
        w.file(cfg_name, cfgb)
        paths = []
        for n, ly in enumerate(img.layers):
            blob = ly.blob()
            h = sha(blob)[7:]
            if style == "legacy":
                lid = hashlib.sha256(f"{chex}-{n}-{h}".encode()).hexdigest()
                name = f"{lid}/layer.tar"
                if h in first_path:
                    w.dir(lid)
                    w.symlink(name, f"../{first_path[h]}")
                else:
                    w.dir(lid)
                    w.file(name, blob)
                    w.file(f"{lid}/VERSION", b"1.0")
                    first_path[h] = name
            elif style == "podman":
                name = f"{h}.tar"
                w.file(name, blob)
                w.dir(h[:12] + "x" * 52)
                w.symlink(h[:12] + "x" * 52 + "/layer.tar", f"../{h}.tar")
            else:
                name = f"blobs/sha256/{h}"
                w.file(name, blob)
            paths.append(name)
        manifest.append(
            {"Config": cfg_name, "RepoTags": [img.tag] if img.tag else None, "Layers": paths}
        )
    w.file("manifest.json", json.dumps(manifest).encode())
    return _write(path, w.bytes(("manifest.json",) if manifest_first else ()), whole)


def _oci_blobs(img: Img, put, default_comp: str | None, platform: bool = False) -> dict:
    """Write an image's blobs through `put(data) -> digest`; return its manifest descriptor."""
    cfgb = img.config_bytes()
    layers = []
    for ly in img.layers:
        blob = ly.blob(default_comp)
        comp = ly.compression or default_comp
        suffix = {"gzip": "+gzip", "gzip-multi": "+gzip", "zstd": "+zstd", "zstd-multi": "+zstd"}
        mt = ly.media_type or "application/vnd.oci.image.layer.v1.tar" + suffix.get(comp or "", "")
        layers.append({"mediaType": mt, "digest": put(blob), "size": len(blob)})
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": put(cfgb),
            "size": len(cfgb),
        },
        "layers": layers,
    }
    mb = json.dumps(manifest).encode()
    desc = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": put(mb),
        "size": len(mb),
    }
    if platform:
        desc["platform"] = {"os": img.os, "architecture": img.arch}
        if img.variant:
            desc["platform"]["variant"] = img.variant
    return desc


def oci_layout(images: list[Img], *, compression: str | None = "gzip",
               multiplatform: bool = False, attestation: bool = False,
               absent: tuple[int, ...] = (), docker25: bool = False) -> dict[str, bytes]:  # fmt: skip
    """The files of an OCI image layout. With `multiplatform`, the images are the platforms of
    one nested index (Docker's containerd-store export); `absent` names images whose manifest
    blob is left out (platforms not pulled); `attestation` adds an unknown/unknown manifest."""
    files: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}

    def put(data: bytes) -> str:
        d = sha(data)
        files["blobs/sha256/" + d[7:]] = data
        return d

    descs = []
    for n, img in enumerate(images):
        desc = _oci_blobs(img, put, compression, platform=multiplatform)
        if n in absent:
            del files["blobs/sha256/" + desc["digest"][7:]]
        descs.append(desc)
    if multiplatform:
        if attestation:
            att = put(b'{"schemaVersion": 2, "layers": [], "config": {}}')
            descs.append(
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": att,
                    "size": 10,
                    "platform": {"os": "unknown", "architecture": "unknown"},
                    "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
                }
            )
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": descs,
        }
        ib = json.dumps(index).encode()
        tag = images[0].tag or "x:latest"
        top = [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": put(ib),
                "size": len(ib),
                "annotations": {"io.containerd.image.name": f"docker.io/library/{tag}",
                                "org.opencontainers.image.ref.name": tag.split(":")[-1]},
            }
        ]  # fmt: skip
    else:
        top = []
        for img, desc in zip(images, descs, strict=True):
            d = dict(desc)
            if img.tag:
                d["annotations"] = {"org.opencontainers.image.ref.name": img.tag}
            top.append(d)
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": top}).encode()
    if docker25:
        manifest = []
        for img in images:
            cfgb = img.config_bytes()
            manifest.append(
                {
                    "Config": "blobs/sha256/" + sha(cfgb)[7:],
                    "RepoTags": [img.tag] if img.tag else None,
                    "Layers": [
                        "blobs/sha256/" + sha(ly.blob(compression))[7:] for ly in img.layers
                    ],
                }
            )
        files["manifest.json"] = json.dumps(manifest).encode()
    return files


def oci_archive(path: Path, images: list[Img], *, whole: str | None = None,
                index_first: bool = False, **kw) -> Path:  # fmt: skip
    """A tar of an OCI layout (`oci-layout`, the blobs, `index.json`, with `docker25` then
    `manifest.json`); `index_first` moves `index.json` and `manifest.json` before the blobs."""
    w = TarWriter()
    for name, data in oci_layout(images, **kw).items():
        w.file(name, data)
    return _write(path, w.bytes(("index.json", "manifest.json") if index_first else ()), whole)


def oci_dir(path: Path, images: list[Img], **kw) -> Path:
    for name, data in oci_layout(images, **kw).items():
        p = Path(path) / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return Path(path)


def docker_dir(path: Path, img: Img) -> Path:
    """podman's docker-dir: `version`, a v2s2 manifest.json, blobs named by bare hex."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    (root / "version").write_bytes(b"Directory Transport Version: 1.1\n")
    cfgb = img.config_bytes()
    (root / sha(cfgb)[7:]).write_bytes(cfgb)
    layers = []
    for ly in img.layers:
        blob = ly.blob()
        (root / sha(blob)[7:]).write_bytes(blob)
        layers.append(
            {
                "mediaType": ly.media_type or "application/vnd.docker.image.rootfs.diff.tar",
                "digest": sha(blob),
                "size": len(blob),
            }
        )
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": sha(cfgb),
            "size": len(cfgb),
        },
        "layers": layers,
    }
    (root / "manifest.json").write_bytes(json.dumps(manifest).encode())
    return root


def open_image(path: Path | str, n: int = 0, **kw):
    """Open an archive with layerscope and return image n (all layers read)."""
    import layerscope

    return layerscope.open(os.fspath(path), **kw).images[n]
