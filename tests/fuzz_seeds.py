"""Seeds, mutations and the oracle for fuzzing the reader: tests/test_fuzz.py runs a few hundred
deterministic cases in the suite, scripts/fuzz.py runs many more (atheris or hypothesis).

The oracle (`check`): whatever the bytes, `layerscope.open` returns or raises a LayerscopeError
subclass; every figure of every image can be computed; the CLI exits 0 or 2 with nothing but one
`layerscope: ...` line on stderr when it fails (never "internal error"); nothing is left in the
spool directory; and it all takes less than TIME_LIMIT seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import tempfile
import time
from functools import cache
from pathlib import Path

from builder import (
    GNU_MAGIC,
    Device,
    Dir,
    File,
    Hardlink,
    Img,
    Layer,
    Opaque,
    Raw,
    Symlink,
    Whiteout,
    base256,
    compress,
    docker_archive,
    gnu_sparse_member,
    layer_tar,
    oci_archive,
    padded,
    pax_member,
    pax_sparse_member,
    raw_tar,
    tar_header,
)

import layerscope
from layerscope.cli import main
from layerscope.errors import LayerscopeError
from layerscope.limits import Limits
from layerscope.read.layerreader import BlobLocation, read_layer

TIME_LIMIT = 10.0  # seconds for one input, everything included (generous: CI machines vary)

# Offsets of a tar header's fields: where a mutation does the most harm.
HEADER_OFFSETS = (
    0,
    99,
    100,
    108,
    116,
    124,
    130,
    135,
    136,
    148,
    155,
    156,
    157,
    257,
    263,
    329,
    337,
    345,
    386,
    482,
    483,
    495,
)

INTERESTING_STRINGS = (
    "",
    "..",
    "../x",
    "/etc/passwd",
    "../../../../etc/passwd",
    "a/../../b",
    ".",
    "/",
    "sha256:" + "a" * 64,
    "sha256:" + "A" * 64,
    "sha256:../../etc/passwd",
    "sha512:" + "b" * 128,
    "l0.tar",
    "config.json",
    "blobs/sha256/" + "c" * 64,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "linux/amd64",
    "unknown",
    "\x00",
    "\n",
    "é" * 3,
    "x" * 300,
)
INTERESTING_INTS = (-1, 0, 1, 2, 40, 511, 512, 513, 2**31, 2**63, -(2**63), 2**64, 10**30)
JSON_KEYS = (
    "Config",
    "Layers",
    "RepoTags",
    "manifests",
    "layers",
    "config",
    "digest",
    "size",
    "mediaType",
    "platform",
    "os",
    "architecture",
    "variant",
    "annotations",
    "rootfs",
    "diff_ids",
    "history",
    "empty_layer",
    "created_by",
    "schemaVersion",
    "Labels",
)


# -- seeds -----------------------------------------------------------------------------------------


def _rich_layer() -> Layer:
    return Layer(
        Dir("etc"),
        File("etc/motd", b"hello\n", mode=0o4755, uid=1000),
        File("a/" + "long" * 40 + "/name", b"pax long name"),
        Symlink("lib", "usr/lib"),
        File("usr/lib/libc.so", b"\x7fELF" + bytes(600)),
        Hardlink("etc/motd.hard", "etc/motd"),
        Whiteout("var/gone"),
        Opaque("opt"),
        Device("dev/null", "char", 1, 3),
        Device("dev/wh", "char", 0, 0),
        Raw(tarfile.TarInfo("../up/../escape"), b"x"),
    )


def _hand_layer() -> bytes:
    """What tarfile cannot write: sparse files of every kind, base-256, global PAX, GNU names."""
    return raw_tar(
        pax_member({"uid": "5", "mtime": "1700000000.5"}, type_=b"g"),
        gnu_sparse_member(b"sparse-gnu", 5000, [(0, b"ab"), (4000, b"cd")]),
        pax_sparse_member(b"sparse-00", 3000, [(10, b"x"), (2000, b"y")], "0.0"),
        pax_sparse_member(b"sparse-01", 3000, [(10, b"x")], "0.1"),
        pax_sparse_member(b"sparse-10", 3000, [(0, b"z" * 600)], "1.0"),
        tar_header(b"b256", size=3, raw={108: base256(-2, 8)}) + padded(b"abc"),
        tar_header(b"././@LongLink", size=201, type_=b"L", magic=GNU_MAGIC)
        + padded(b"g" * 200 + b"\0"),
        tar_header(b"short", size=1, magic=GNU_MAGIC) + padded(b"1"),
        pax_member({"path": "pax/path", "linkpath": "etc/motd", "SCHILY.xattr.user.a": b"\xff"}),
        tar_header(b"x", type_=b"1", linkname=b"sparse-gnu"),
        tar_header(b"dir/", type_=b"5", prefix=b"prefixed"),
    )


@cache
def archive_seeds() -> dict[str, bytes]:
    """Whole archives of every format (outer tar bytes)."""
    tmp = Path(tempfile.mkdtemp(prefix="layerscope-seeds-"))
    rich = _rich_layer()
    plain = Layer(File("b", b"second"), Whiteout("etc/motd"), File("lib/x", b"via link"))
    hand = Layer(tar=_hand_layer())
    img = Img([rich, plain, Layer(tar=rich.tar_bytes, compression="gzip")], tag="seed:1")
    other = Img([Layer(File("o", b"other"), compression="zstd")], tag="other:1", arch="arm64")
    seeds = {
        "docker-legacy": docker_archive(tmp / "a", [img]).read_bytes(),
        "docker-podman": docker_archive(tmp / "b", [img, other], style="podman").read_bytes(),
        "docker-hand": docker_archive(tmp / "c", [Img([hand, plain])]).read_bytes(),
        "oci": oci_archive(tmp / "d", [img], compression=None).read_bytes(),
        "oci-multi": oci_archive(
            tmp / "e", [img, other], multiplatform=True, attestation=True, compression="zstd"
        ).read_bytes(),
        "docker25": oci_archive(
            tmp / "f", [img], docker25=True, index_first=True, compression=None
        ).read_bytes(),
        "whole-gzip": docker_archive(tmp / "g", [Img([plain])], whole="gzip").read_bytes(),
    }
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    return seeds


@cache
def layer_seeds() -> dict[str, bytes]:
    """Layer tars (uncompressed, and one of each compression)."""
    rich = _rich_layer().tar_bytes
    return {
        "rich": rich,
        "hand": _hand_layer(),
        "gnu": layer_tar(
            File("g" * 150, b"gnu"), Symlink("s" * 120, "t" * 120), fmt=tarfile.GNU_FORMAT
        ),
        "gzip": compress(rich, "gzip-multi"),
        "zstd": compress(rich, "zstd-multi"),
        "bzip2": compress(rich, "bzip2"),
        "xz": compress(rich, "xz"),
    }


def json_members(data: bytes) -> list[str]:
    """The names of the JSON documents in an archive (manifest.json, index.json, configs,
    manifests)."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            if not m.isfile() or m.size > 1 << 20:
                continue
            head = tf.extractfile(m).read(1)
            if head in (b"{", b"["):
                out.append(m.name)
    return out


def read_member(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.extractfile(name).read()


def replace_member(data: bytes, name: str, content: bytes) -> bytes:
    """The archive with member `name` holding `content` (other members as they were)."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(data)) as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for m in src.getmembers():
            if m.name == name:
                m.size = len(content)
                dst.addfile(m, io.BytesIO(content))
            else:
                dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    return out.getvalue()


# -- mutations -------------------------------------------------------------------------------------


def mutate(data: bytes, ops: list[tuple[str, int, bytes]]) -> bytes:
    """Apply byte-level operations: (`flip`|`set`|`insert`|`delete`|`zero`|`dup`, position,
    bytes). Positions are taken modulo the length, so any list of ops applies to any input."""
    b = bytearray(data)
    for op, pos, val in ops:
        if not b:
            b = bytearray(val or b"\0")
            continue
        pos %= len(b)
        if op == "flip":
            b[pos] ^= val[0] if val and val[0] else 0xFF
        elif op == "set":
            b[pos : pos + len(val)] = val
        elif op == "insert":
            b[pos:pos] = val
        elif op == "delete":
            del b[pos : pos + max(1, len(val))]
        elif op == "zero":
            start = pos - pos % 512
            b[start : start + 512] = bytes(512)
        elif op == "dup":  # repeat a 512-byte block: extra headers, loops
            start = pos - pos % 512
            b[start:start] = b[start : start + 512] * (1 + len(val) % 8)
    return bytes(b)


def json_nodes(doc: object, path: tuple = ()):
    """Every node of a JSON document, as a path of keys and indexes (of a list: its first item
    and its last)."""
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from json_nodes(v, (*path, k))
    elif isinstance(doc, list) and doc:
        for i in sorted({0, len(doc) - 1}):
            yield from json_nodes(doc[i], (*path, i))


def mutate_json(doc: object, path: list[object], value: object, *, delete: bool = False) -> object:
    """`doc` with the node at `path` (keys and indexes, taken modulo what exists) replaced by
    `value` (or deleted)."""
    if not path:
        return value
    step, rest = path[0], path[1:]
    if isinstance(doc, dict) and doc:
        keys = list(doc)
        key = step if isinstance(step, str) and step in doc else keys[hash(str(step)) % len(keys)]
        out = dict(doc)
        if delete and not rest:
            del out[key]
        else:
            out[key] = mutate_json(doc[key], rest, value, delete=delete)
        return out
    if isinstance(doc, list) and doc:
        i = (step if isinstance(step, int) else len(str(step))) % len(doc)
        out = list(doc)
        if delete and not rest:
            del out[i]
        else:
            out[i] = mutate_json(doc[i], rest, value, delete=delete)
        return out
    return value


# -- the oracle ------------------------------------------------------------------------------------


def _exercise(archive: layerscope.Archive) -> None:
    """Compute every figure of every image (the union model included), and the report."""
    from layerscope.output.report import write_report

    for img in archive.images:
        img.hidden, img.final_size, img.final_files, img.duplicates, img.dive  # noqa: B018
        for layer in img.layers:
            layer.changes  # noqa: B018
            list(layer.entries())
        dict(img.final_entries())
    write_report(io.StringIO(), archive.images)


def check(
    data: bytes,
    workdir: Path,
    *,
    verify: bool = True,
    cli: bool = True,
    limits: Limits | None = None,
) -> str:
    """Run the oracle on one input; returns `ok` or the refusal message."""
    workdir.mkdir(parents=True, exist_ok=True)
    spool = workdir / "spool"
    spool.mkdir(exist_ok=True)
    path = workdir / "input"
    path.write_bytes(data)
    outcome = "ok"
    start = time.monotonic()
    saved, tempfile.tempdir = tempfile.tempdir, str(spool)
    try:
        try:
            kw = {"limits": limits} if limits is not None else {}
            archive = layerscope.open(str(path), verify=verify, **kw)
        except LayerscopeError as e:
            outcome = str(e)
        else:
            with archive:
                _exercise(archive)
        if cli:
            _check_cli(path, workdir, verify)
    finally:
        tempfile.tempdir = saved
    elapsed = time.monotonic() - start
    assert elapsed < TIME_LIMIT, f"{elapsed:.1f}s for one input"
    assert not os.listdir(spool), "a spooled archive was left behind"
    return outcome


def _check_cli(path: Path, workdir: Path, verify: bool) -> None:
    out, err = io.StringIO(), io.StringIO()
    report = workdir / "report.json"
    argv = [str(path), "--json", str(report), "--no-cache"] + ([] if verify else ["--no-verify"])
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    text = err.getvalue()
    assert out.getvalue() == ""
    if code == 0:
        assert text == "", text
        json.loads(report.read_text())
        report.unlink()
    else:
        assert code == 2, (code, text)
        assert text.startswith(f"layerscope: {path}: ") and text.count("\n") == 1, text
        assert "internal error" not in text and "Traceback" not in text, text
        assert not report.exists()


def check_layer(tar: bytes, workdir: Path) -> str:
    """Read one layer blob directly (deeper into the tar parser than whole archives reach)."""
    from layerscope.model.filesystem import analyse

    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "layer"
    path.write_bytes(tar)
    start = time.monotonic()
    try:
        index = read_layer(BlobLocation(str(path), 0, len(tar)), verify=False)
    except LayerscopeError as e:
        outcome = str(e)
    else:
        outcome = "ok"
        a = analyse([index, index])
        list(index)
        assert len(a.status) == 2
    elapsed = time.monotonic() - start
    assert elapsed < TIME_LIMIT, f"{elapsed:.1f}s for one layer"
    return outcome
