"""Hostile and broken archives (issue 7): a corpus of crafted archives, built here, each with the
exact outcome it must have.

- Every limit of limits.py is crossed, with the one-line message naming its flag, and passes once
  the flag raises it; numbers an archive claims (sizes, counts, windows) never allocate.
- Paths: digests, manifest paths and outer-tar links are validated before use; nothing is read
  from outside the archive or the image directory.
- Entries named with `..`, absolute names and invalid whiteouts are kept, flagged, and act only
  at their lexical place under the image root (as containerd applies them): the union model has
  no outside. containerd's breakout tests (archive/tar_test.go) are adapted to reading.
- Every failure is `layerscope: <input>: <problem>` on one line, exit 2, nothing on stdout,
  nothing left on disk, no program run.
"""

from __future__ import annotations

import contextlib
import json
import lzma
import os
import subprocess
import tarfile
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
import zstandard
from builder import (
    END,
    GNU_MAGIC,
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
    layer_tar,
    oci_dir,
    oci_layout,
    padded,
    pax_member,
    pax_records,
    raw_tar,
    sha,
    tar_header,
    tar_of,
)

import layerscope
from layerscope.cli import main
from layerscope.errors import LayerscopeError
from layerscope.limits import DEFAULT_LIMITS, Limits, MiB
from layerscope.model.analysis import IMPLIED, unpack
from layerscope.read.records import FILE

# -- harness ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _sandbox(tmp_path, monkeypatch, tmp_path_factory):
    """Spools go to tmp_path/spool and must be gone at the end; the working directory is an
    empty directory that must stay empty (docs/formats.md 31: a reader writes nothing); the cache is
    private; and no program may be run (docs/formats.md 33)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))

    def no_programs(*args, **kwargs):
        raise AssertionError(f"layerscope ran a program: {args!r}")

    monkeypatch.setattr(subprocess, "Popen", no_programs)
    monkeypatch.setattr(os, "system", no_programs)
    yield
    assert list(spool.iterdir()) == [], "a spooled archive was left behind"
    assert list(cwd.iterdir()) == [], "something was written to the working directory"


def cli(*argv: str, capsys) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def refused(path: Path, message: str, *flags: str, capsys) -> None:
    """The archive ends in exactly `layerscope: <path>: <message>`, exit 2, stdout empty."""
    code, out, err = cli(str(path), "--json", "-", *flags, capsys=capsys)
    assert (code, out, err) == (2, "", f"layerscope: {path}: {message}\n")


def accepted(path: Path, *flags: str, capsys) -> dict:
    code, out, err = cli(str(path), "--json", "-", *flags, capsys=capsys)
    assert (code, err) == (0, ""), err
    return json.loads(out)


def mini(
    tmp_path: Path,
    *layers: bytes | Layer | tuple[bytes, str],
    name: str = "a.tar",
    config: dict | None = None,
    edit=None,
    files: dict[str, bytes] | None = None,
    symlinks: dict[str, str] | None = None,
    hardlinks: dict[str, str] | None = None,
    whole: str | None = None,
) -> Path:
    """A docker-archive with short, known member names: `config.json`, `l0.tar`, `l1.tar`...
    and `manifest.json`. A layer is tar bytes, a builder Layer, or (blob, diff_id) as is.
    `edit(manifest)` changes the manifest before it is written."""
    blobs, diff_ids = [], []
    for ly in layers:
        if isinstance(ly, tuple):
            blobs.append(ly[0])
            diff_ids.append(ly[1])
            continue
        if isinstance(ly, bytes):
            ly = Layer(tar=ly)
        blobs.append(ly.blob())
        diff_ids.append(sha(ly.tar_bytes))
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        **(config or {}),
    }
    members = {"config.json": json.dumps(cfg).encode()}
    members.update({f"l{i}.tar": b for i, b in enumerate(blobs)})
    manifest = [
        {
            "Config": "config.json",
            "RepoTags": ["hostile:1"],
            "Layers": [f"l{i}.tar" for i in range(len(blobs))],
        }
    ]
    if edit is not None:
        edit(manifest)
    members.update(files or {})
    members["manifest.json"] = json.dumps(manifest).encode()
    p = tmp_path / name
    p.write_bytes(compress(tar_of(members, symlinks, hardlinks), whole))
    return p


def image(path: Path, **kw) -> layerscope.Image:
    """Image 0, every layer read (the archive closed: its figures need no file)."""
    with layerscope.open(str(path), **kw) as archive:
        return archive.images[0]


def final(img: layerscope.Image) -> dict[str, str]:
    """The final filesystem: path -> `dir`, `file:<content>`, `symlink:<target>`,
    `hardlink:<content of its target>`, or the type for the rest."""
    a = img.analysis
    out = {}
    for path, ref in a.final.items():
        if ref == IMPLIED:
            out[path] = "dir"
            continue
        e = img.layers[unpack(ref)[0]].data.entry(unpack(ref)[1])
        if e.type in ("file", "hardlink"):
            target = a.content_ref(ref)
            tl, tr = unpack(target)
            li = img.layers[tl].data
            if li.types[tr] != FILE:  # a hardlink to nothing, or to a non-file
                out[path] = f"{e.type}:->{e.link}"
                continue
            out[path] = f"{e.type}:{_content(img, tl, tr)}"
        elif e.type == "symlink":
            out[path] = f"symlink:{e.link}"
        else:
            out[path] = e.type
    return out


_CONTENTS: dict[str, str] = {}


def _content(img, layer: int, row: int) -> str:
    d = img.layers[layer].data.entry(row).digest
    return _CONTENTS.get(d, d)


def known(*texts: bytes) -> None:
    """Name contents by their text in `final` (instead of their digest)."""
    for t in texts:
        _CONTENTS[sha(t)] = t.decode()


known(
    b"",
    b"inside",
    b"unbroken",
    b"notempty",
    b"all users",
    b"ahhhh whiteout",
    b"non-empty",
    b"different",
    b"after",
    b"lower",
    b"upper",
    b"x",
)


def member(name: bytes, data: bytes = b"", **kw) -> bytes:
    return tar_header(name, size=len(data), **kw) + padded(data)


# -- 1. limits: one crossing per flag, then the flag raising it ----------------------------------


def test_defaults_are_the_documented_ones():
    assert (
        Limits(
            max_json_bytes=4 * MiB,
            max_header_bytes=MiB,
            max_entries=5_000_000,
            max_members=1_000_000,
            max_layers=4096,
            max_path_length=4096,
            max_symlink_hops=40,
            max_index_depth=8,
            max_layer_bytes=256 * 1024 * MiB,
            max_archive_bytes=1024 * 1024 * MiB,
            max_ratio=0,
            max_decoder_memory=256 * MiB,
        )
        == DEFAULT_LIMITS
    )


def test_every_limit_has_a_flag(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    helptext = capsys.readouterr().out
    for name in DEFAULT_LIMITS.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in helptext
    with pytest.raises(SystemExit) as info:
        main(["x.tar", "--max-entries", "0"])
    assert info.value.code == 2 and "must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["x.tar", "--max-ratio=-1"])
    assert info.value.code == 2 and "must not be negative" in capsys.readouterr().err


def test_json_manifest_over_the_limit(tmp_path, capsys):
    big = "x" * 3000
    p = mini(tmp_path, layer_tar(File("f")), edit=lambda m: m[0].update(RepoTags=[big]))
    size = len(json.dumps([{"Config": "config.json", "RepoTags": [big], "Layers": ["l0.tar"]}]))
    refused(
        p,
        f"manifest.json is {size} bytes, over the JSON limit of 2000; raise with --max-json-bytes",
        "--max-json-bytes",
        "2000",
        capsys=capsys,
    )
    accepted(p, "--max-json-bytes", "4000", capsys=capsys)


def test_json_config_over_the_limit(tmp_path, capsys):
    p = mini(tmp_path, layer_tar(File("f")), config={"comment": "y" * 5000})
    with tarfile.open(p) as tf:
        size = tf.getmember("config.json").size
    refused(
        p,
        f"config.json is {size} bytes, over the JSON limit of 5000; raise with --max-json-bytes",
        "--max-json-bytes",
        "5000",
        capsys=capsys,
    )
    accepted(p, "--max-json-bytes", "6000", capsys=capsys)


def test_json_of_a_gigabyte_is_refused_before_it_is_read(tmp_path, capsys):
    """An OCI layout directory whose index.json is a 1 GiB (sparse) file: refused by its size,
    with no read and no allocation."""
    root = oci_dir(tmp_path / "layout", [Img([Layer(File("f"))])])
    with open(root / "index.json", "r+b") as f:
        f.truncate(1 << 30)
    tracemalloc.start()
    try:
        refused(
            root,
            "index.json is 1073741824 bytes, over the JSON limit of 4194304; raise "
            "with --max-json-bytes",
            capsys=capsys,
        )
        assert tracemalloc.get_traced_memory()[1] < 20 * MiB
    finally:
        tracemalloc.stop()


def test_json_index_manifest_and_config_in_a_layout(tmp_path, capsys):
    files = oci_layout([Img([Layer(File("f"))], config_extra={"comment": "z" * 3000})])
    index = json.loads(files["index.json"])
    manifest = files["blobs/sha256/" + index["manifests"][0]["digest"][7:]]
    cfg_digest = json.loads(manifest)["config"]["digest"]
    p = tmp_path / "o.tar"
    p.write_bytes(tar_of(files))
    cfg_size = len(files["blobs/sha256/" + cfg_digest[7:]])
    refused(
        p,
        f"blobs/sha256/{cfg_digest[7:]} is {cfg_size} bytes, over the JSON limit of "
        "2000; raise with --max-json-bytes",
        "--max-json-bytes",
        "2000",
        capsys=capsys,
    )
    accepted(p, "--max-json-bytes", str(cfg_size), capsys=capsys)
    limit = len(files["index.json"])
    assert limit < len(manifest) < cfg_size
    refused(
        p,
        f"blobs/sha256/{index['manifests'][0]['digest'][7:]} is {len(manifest)} bytes, "
        f"over the JSON limit of {limit}; raise with --max-json-bytes",
        "--max-json-bytes",
        str(limit),
        capsys=capsys,
    )
    refused(
        p,
        f"index.json is {limit} bytes, over the JSON limit of 100; raise with --max-json-bytes",
        "--max-json-bytes",
        "100",
        capsys=capsys,
    )


def test_pax_header_over_the_limit(tmp_path, capsys):
    pax = pax_member({"path": "a" * 3000})
    size = len(pax_records({"path": "a" * 3000}))
    p = mini(tmp_path, raw_tar(pax + member(b"placeholder")))
    refused(
        p,
        f"layer 0 (l0.tar): a tar extended header of {size} bytes is over the limit of "
        "2048; raise with --max-header-bytes",
        "--max-header-bytes",
        "2048",
        capsys=capsys,
    )
    accepted(p, "--max-header-bytes", "4096", capsys=capsys)


def test_gnu_long_name_over_the_limit(tmp_path, capsys):
    name = b"n" * 5000 + b"\0"
    tar = raw_tar(member(b"././@LongLink", name, type_=b"L", magic=GNU_MAGIC) + member(b"x"))
    refused(
        mini(tmp_path, tar),
        "layer 0 (l0.tar): a tar extended header of 5001 bytes is over "
        "the limit of 4096; raise with --max-header-bytes",
        "--max-header-bytes",
        "4096",
        capsys=capsys,
    )


def test_pax_header_claiming_a_huge_size_allocates_nothing(tmp_path, capsys):
    """A PAX header whose size field claims 64 GiB, in a 3 KB archive: refused from the number."""
    tar = tar_header(b"PaxHeaders/x", type_=b"x", raw={124: base256(64 << 30, 12)}) + END
    tracemalloc.start()
    try:
        refused(
            mini(tmp_path, tar),
            "layer 0 (l0.tar): a tar extended header of 68719476736 "
            "bytes is over the limit of 1048576; raise with --max-header-bytes",
            capsys=capsys,
        )
        assert tracemalloc.get_traced_memory()[1] < 20 * MiB
    finally:
        tracemalloc.stop()


def test_gnu_sparse_extension_chain_over_the_limit(tmp_path, capsys):
    """Old GNU sparse headers chain extension blocks for as long as each says `more`."""
    ext = bytearray(512)
    ext[504] = 1  # another block follows, forever
    head = tar_header(b"s", size=0, type_=b"S", magic=GNU_MAGIC, raw={482: b"\1"})
    tar = head + bytes(ext) * 20 + END
    refused(
        mini(tmp_path, tar),
        "layer 0 (l0.tar): a GNU sparse map of 4608 bytes is over the "
        "limit of 4096; raise with --max-header-bytes",
        "--max-header-bytes",
        "4096",
        capsys=capsys,
    )


def test_sparse_1_0_map_over_the_limit(tmp_path, capsys):
    smap = b"300\n" + b"0\n1\n" * 300
    body = padded(smap) + b"x"
    recs = [
        ("GNU.sparse.major", "1"),
        ("GNU.sparse.minor", "0"),
        ("GNU.sparse.name", "s"),
        ("GNU.sparse.realsize", "1"),
    ]
    tar = raw_tar(pax_member(recs) + member(b"GNUSparseFile.1/s", body))
    refused(
        mini(tmp_path, tar),
        "layer 0 (l0.tar): a sparse map of 1536 bytes is over the limit "
        "of 1024; raise with --max-header-bytes",
        "--max-header-bytes",
        "1024",
        capsys=capsys,
    )


def test_entries_per_layer(tmp_path, capsys):
    p = mini(tmp_path, layer_tar(*[File(f"f{i}") for i in range(11)]))
    refused(
        p,
        "layer 0 (l0.tar): over 10 entries in one layer; raise with --max-entries",
        "--max-entries",
        "10",
        capsys=capsys,
    )
    accepted(p, "--max-entries", "11", capsys=capsys)


def test_a_layer_used_many_times_counts_each_time(tmp_path, capsys):
    """A layer bomb by reuse: one big layer named by thousands of positions would cost a pass
    per use (the union, the report). The images of one input may hold 4 x --max-entries
    entries in all, each use counted."""
    tar = layer_tar(*[File(f"f{i}") for i in range(30)])
    p = mini(tmp_path, *[tar] * 5)
    refused(
        p,
        "the images hold 150 entries in all, each use of a layer counted: over 4 x 30; "
        "raise with --max-entries",
        "--max-entries",
        "30",
        capsys=capsys,
    )
    accepted(p, "--max-entries", "40", capsys=capsys)


def test_members_of_the_outer_archive(tmp_path, capsys):
    p = mini(tmp_path, layer_tar(File("f")), files={f"junk/{i}": b"" for i in range(20)})
    refused(
        p,
        "over 10 members in the archive; raise with --max-members",
        "--max-members",
        "10",
        capsys=capsys,
    )
    accepted(p, "--max-members", "30", capsys=capsys)


def test_layers_in_a_manifest(tmp_path, capsys):
    tar = layer_tar(File("f"))
    p = mini(tmp_path, *[tar] * 5)
    refused(
        p,
        "manifest.json image 0: over 4 image layers in one archive (an image without "
        "layers counts one); raise with --max-layers",
        "--max-layers",
        "4",
        capsys=capsys,
    )
    accepted(p, "--max-layers", "5", capsys=capsys)


def test_images_in_a_manifest_count_too(tmp_path, capsys):
    """Many images naming one config: the config is read once, and the images are counted."""
    p = mini(tmp_path, layer_tar(File("f")), edit=lambda m: m.extend([m[0]] * 9))
    refused(
        p,
        "manifest.json image 5: over 5 image layers in one archive (an image without "
        "layers counts one); raise with --max-layers",
        "--max-layers",
        "5",
        capsys=capsys,
    )
    assert len(accepted(p, capsys=capsys)["images"]) == 10


def test_many_images_naming_one_big_config_cost_one_read(tmp_path):
    cfg_extra = {"history": [{"created_by": "x" * 100}] * 20_000}
    p = mini(tmp_path, config=cfg_extra, edit=lambda m: m.extend([m[0]] * 3000))
    start = time.monotonic()
    archive = layerscope.open(str(p))
    assert len(archive.images) == 3001
    assert archive.images[0].config is archive.images[3000].config  # parsed once, shared
    assert time.monotonic() - start < 5
    archive.close()


def test_path_length_of_names_and_link_targets(tmp_path, capsys):
    long = "d/" * 100 + "f"
    p = mini(tmp_path, layer_tar(File(long)))
    refused(
        p,
        "layer 0 (l0.tar): an entry name of 201 bytes is over the limit of 200; raise "
        "with --max-path-length",
        "--max-path-length",
        "200",
        capsys=capsys,
    )
    accepted(p, "--max-path-length", "201", capsys=capsys)
    p = mini(tmp_path, layer_tar(Symlink("s", "t" * 300)), name="b.tar")
    refused(
        p,
        "layer 0 (l0.tar): a link target of 300 bytes is over the limit of 200; raise "
        "with --max-path-length",
        "--max-path-length",
        "200",
        capsys=capsys,
    )


def test_manifest_path_longer_than_any_member(tmp_path, capsys):
    long = "a/" * 3000 + "l.tar"
    p = mini(tmp_path, layer_tar(File("f")), edit=lambda m: m[0].update(Layers=[long]))
    refused(p, f"{long[:200]}... is missing from the archive", capsys=capsys)


def test_path_depth_is_bounded_by_the_path_length(tmp_path, capsys):
    """No limit on components: 4096 bytes hold at most 2048 (tests/test_limits.py reads them)."""
    p = mini(tmp_path, layer_tar(File("/".join("d" * 2048))))
    assert accepted(p, capsys=capsys)["images"][0]["final_files"] == 1
    with pytest.raises(SystemExit):
        main(["x.tar", "--max-path-depth", "10"])
    assert "unrecognized arguments: --max-path-depth" in capsys.readouterr().err


def test_symlink_hops_in_the_outer_archive(tmp_path, capsys):
    chain = {f"s{i}": f"s{i + 1}" for i in range(45)}
    chain["s45"] = "l0.tar"
    p = mini(
        tmp_path, layer_tar(File("f")), symlinks=chain, edit=lambda m: m[0].update(Layers=["s0"])
    )
    refused(
        p,
        "s0: too many symlink hops in the archive (over 40: a loop?); raise with "
        "--max-symlink-hops",
        capsys=capsys,
    )
    accepted(p, "--max-symlink-hops", "46", capsys=capsys)
    loop = mini(
        tmp_path,
        layer_tar(File("f")),
        name="loop.tar",
        symlinks={"a": "b", "b": "a"},
        edit=lambda m: m[0].update(Layers=["a"]),
    )
    refused(
        loop,
        "a: too many symlink hops in the archive (over 1000: a loop?); raise with "
        "--max-symlink-hops",
        "--max-symlink-hops",
        "1000",
        capsys=capsys,
    )


def test_symlink_hops_in_the_union_filesystem(tmp_path):
    """Following symlinks, a chain of 45 is not followed by default (the entry under it stays at
    its written name, replacing the symlink with a directory); --max-symlink-hops 50 follows it."""
    chain = [Symlink(f"s{i}", f"s{i + 1}") for i in range(45)] + [Dir("s45")]
    p = mini(tmp_path, layer_tar(*chain), layer_tar(File("s0/f", b"x")))
    fs = final(image(p, apply="follow"))
    assert fs["s0/f"] == "file:x" and fs["s0"] == "dir" and "s45/f" not in fs
    fs = final(image(p, apply="follow", limits=Limits(max_symlink_hops=50)))
    assert fs["s45/f"] == "file:x" and fs["s0"] == "symlink:s1"
    # in one layer, overlay storage follows the layer's own chain the same way
    q = mini(tmp_path, layer_tar(*chain, File("s0/f", b"x")), name="one")
    assert final(image(q, limits=Limits(max_symlink_hops=50)))["s45/f"] == "file:x"


def _nested(depth: int) -> dict[str, bytes]:
    files = oci_layout([Img([Layer(File("f"))])])
    index = json.loads(files["index.json"])
    desc = index["manifests"][0]
    for _ in range(depth):
        data = json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [desc],
                "mediaType": "application/vnd.oci.image.index.v1+json",
            }
        ).encode()
        files["blobs/sha256/" + sha(data)[7:]] = data
        desc = {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": sha(data),
            "size": len(data),
        }
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode()
    return files


def test_index_depth(tmp_path, capsys):
    p = tmp_path / "o.tar"
    p.write_bytes(tar_of(_nested(9)))
    refused(p, "indexes nested too deeply (over 8); raise with --max-index-depth", capsys=capsys)
    accepted(p, "--max-index-depth", "9", capsys=capsys)


def test_index_cycle(tmp_path, capsys):
    """Digests make a cycle impossible to verify, but --no-verify must not loop either."""
    a_digest = "sha256:" + "a" * 64
    b = json.dumps(
        {
            "manifests": [
                {"digest": a_digest, "mediaType": "application/vnd.oci.image.index.v1+json"}
            ]
        }
    ).encode()
    a = json.dumps(
        {"manifests": [{"digest": sha(b), "mediaType": "application/vnd.oci.image.index.v1+json"}]}
    ).encode()
    files = {
        "oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
        "blobs/sha256/" + "a" * 64: a,
        "blobs/sha256/" + sha(b)[7:]: b,
        "index.json": json.dumps({"manifests": [{"digest": a_digest}]}).encode(),
    }
    p = tmp_path / "o.tar"
    p.write_bytes(tar_of(files))
    refused(
        p,
        f"index cycle through {a_digest}",
        "--no-verify",
        "--max-index-depth",
        "100",
        capsys=capsys,
    )
    refused(p, f"blobs/sha256/{'a' * 64}: digest is {sha(a)}, expected {a_digest}", capsys=capsys)


def test_ratio_of_a_layer(tmp_path, capsys):
    """8 MiB of zeros gzip to 8 KiB, a ratio of 1030: read by default (no ratio limit), over
    --max-ratio 1000 when it is asked for."""
    tar = layer_tar(File("zeros", bytes(8 * MiB)))
    p = mini(tmp_path, Layer(tar=tar, compression="gzip"))
    accepted(p, capsys=capsys)
    refused(
        p,
        "layer 0 (l0.tar): the layer decompresses to over 1000x its stored size; raise with "
        "--max-ratio",
        "--max-ratio",
        "1000",
        capsys=capsys,
    )
    accepted(p, "--max-ratio", "2000", capsys=capsys)


def test_ratio_of_a_whole_archive(tmp_path, capsys):
    p = mini(tmp_path, layer_tar(File("zeros", bytes(8 * MiB))), whole="xz")
    refused(
        p,
        "the archive decompresses to over 100x its stored size; raise with --max-ratio",
        "--max-ratio",
        "100",
        capsys=capsys,
    )
    accepted(p, "--max-ratio", "100000", capsys=capsys)


def test_layer_bytes_count_the_holes_of_sparse_files(tmp_path, capsys):
    """A sparse file claiming 10 TB of holes: hashing them would take hours. The holes count
    as bytes the layer makes the reader process, and are refused before any is hashed."""
    recs = {"GNU.sparse.size": str(10**13), "GNU.sparse.map": "0,1"}
    tar = raw_tar(pax_member(recs) + member(b"s", b"x"))
    start = time.monotonic()
    refused(
        mini(tmp_path, tar),
        "layer 0 (l0.tar): the layer holds over 256 GiB (its tar and the holes of its sparse "
        "files); raise with --max-layer-bytes",
        capsys=capsys,
    )
    assert time.monotonic() - start < 5


def _big_window_zstd(data: bytes) -> bytes:
    """A zstd frame whose header asks for a 512 MiB window (the window descriptor patched)."""
    cobj = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    frame = bytearray(cobj.compress(data) + cobj.flush())
    assert frame[4] == 0  # no content size, not single-segment: byte 5 is the window
    frame[5] = 19 << 3  # 2 ** (10 + 19)
    return bytes(frame)


def _big_dict_xz(data: bytes) -> bytes:
    """An xz stream whose block header asks for a 512 MiB dictionary (patched, CRC fixed)."""
    xz = bytearray(lzma.compress(data))
    size = (xz[12] + 1) * 4
    assert xz[13:16] == b"\0\x21\x01"  # one filter, LZMA2, one byte of properties
    xz[16] = 34  # 2 ** (34 // 2 + 12)
    xz[12 + size - 4 : 12 + size] = zlib.crc32(xz[12 : 12 + size - 4]).to_bytes(4, "little")
    return bytes(xz)


def test_decoder_memory_of_a_zstd_layer(tmp_path, capsys):
    """A zstd frame may ask for a window of up to 2 GiB: refused before it is allocated."""
    tar = layer_tar(File("f", b"hello" * 100))
    p = mini(tmp_path, (_big_window_zstd(tar), sha(tar)))
    refused(
        p,
        "layer 0 (l0.tar): the zstd stream needs over 268435456 bytes of decoder memory; "
        "raise with --max-decoder-memory",
        capsys=capsys,
    )
    accepted(p, "--max-decoder-memory", str(1 << 30), capsys=capsys)


def test_decoder_memory_of_an_xz_archive(tmp_path, capsys):
    p = tmp_path / "a.tar.xz"
    p.write_bytes(_big_dict_xz(mini(tmp_path, layer_tar(File("f"))).read_bytes()))
    refused(
        p,
        "the xz stream needs over 268435456 bytes of decoder memory; raise with "
        "--max-decoder-memory",
        capsys=capsys,
    )
    accepted(p, "--max-decoder-memory", str(1 << 30), capsys=capsys)


# -- 2. claimed sizes, loops, progress: bounded time and memory ----------------------------------


@pytest.mark.parametrize("where", ["layer", "outer"])
def test_a_header_claiming_100_gb_in_a_small_archive(tmp_path, capsys, where):
    big = tar_header(b"big", raw={124: base256(100 << 30, 12)}) + b"data" + bytes(508)
    if where == "layer":
        p = mini(tmp_path, big + END)
        message = "layer 0 (l0.tar): truncated: the stream ends inside a file's data"
    else:
        p = tmp_path / "a.tar"
        p.write_bytes(big + mini(tmp_path, layer_tar(File("f")), name="x.tar").read_bytes())
        message = "truncated: the archive ends inside a tar entry's data"
    tracemalloc.start()
    try:
        refused(p, message, capsys=capsys)
        assert tracemalloc.get_traced_memory()[1] < 20 * MiB
    finally:
        tracemalloc.stop()


def test_numbers_too_big_for_any_file(tmp_path, capsys):
    """Base-256 fields hold 95-bit numbers, PAX fields any number of digits: both refused."""
    tar = tar_header(b"f", raw={136: b"\x80" + b"\xff" * 11}) + END
    refused(
        mini(tmp_path, tar),
        "layer 0 (l0.tar): corrupt tar header: a number is out of range",
        capsys=capsys,
    )
    tar = raw_tar(pax_member({"uid": "9" * 40}) + member(b"f"))
    refused(
        mini(tmp_path, tar, name="b.tar"),
        "layer 0 (l0.tar): corrupt PAX header: bad uid",
        capsys=capsys,
    )
    tar = raw_tar(pax_member({"mtime": "1e999"}) + member(b"f"))
    refused(
        mini(tmp_path, tar, name="c.tar"),
        "layer 0 (l0.tar): corrupt PAX header: bad mtime",
        capsys=capsys,
    )


def test_repeated_extended_headers_make_progress(tmp_path, capsys):
    """Thousands of PAX and long-name headers with no member between them: each consumes its
    blocks, the last applies to the one member, and the reader ends."""
    headers = (
        pax_member({"path": "p"}) + member(b"././@LongLink", b"n\0", type_=b"L", magic=GNU_MAGIC)
    ) * 2000
    p = mini(tmp_path, raw_tar(headers + member(b"real", b"x")))
    report = accepted(p, capsys=capsys)
    assert [f["path"] for f in report["images"][0]["layers"][0]["files"]] == ["p"]


def test_global_headers_cost_nothing_per_entry(tmp_path):
    """A global PAX header applies to every later member: 30,000 xattr records in one would be
    copied into each entry (minutes of work, GBs). Only the fields a member has are kept."""
    g = pax_member(
        [(f"SCHILY.xattr.user.k{i}", "v") for i in range(30_000)] + [("uid", "7")], type_=b"g"
    )
    tar = raw_tar(g + b"".join(member(f"f{i}".encode()) for i in range(5000)))
    start = time.monotonic()
    img = image(mini(tmp_path, tar))
    assert time.monotonic() - start < 5
    entries = list(img.layers[0].entries())
    assert len(entries) == 5000 and {e.uid for e in entries} == {7}
    assert not img.layers[0].data.extras


def test_a_gzip_member_per_byte_costs_linear_time(tmp_path):
    """A layer of 200,000 gzip members of one byte each, holding a 200 KB PAX header: each
    member's end used to copy the rest of a 1 MiB input chunk, and the header was gathered by
    re-copying the buffer per byte (4.4 s before, 0.5 s now on the machine this was written on)."""
    tar = raw_tar(pax_member({"SCHILY.xattr.user.big": "v" * 200_000}) + member(b"f"))
    members = {}
    for byte in set(tar):
        c = zlib.compressobj(1, zlib.DEFLATED, 31)
        members[byte] = c.compress(bytes([byte])) + c.flush()
    blob = b"".join(members[byte] for byte in tar)
    p = mini(tmp_path, (blob, sha(tar)))
    start = time.monotonic()
    li = image(p).layers[0].data
    assert time.monotonic() - start < 2.5
    assert li.extras[0]["xattrs"]["user.big"] == b"v" * 200_000


def test_pax_records_must_have_a_length(tmp_path, capsys):
    for n, data in enumerate([b"0 path=x\n", b"+9 path=x\n", b"1_0 a=bcd\n", b"99999 a=b\n"]):
        tar = raw_tar(member(b"PaxHeaders/x", data, type_=b"x") + member(b"f"))
        code, _, err = cli(str(mini(tmp_path, tar, name=f"{n}.tar")), "--json", "-", capsys=capsys)
        assert code == 2 and "corrupt PAX header" in err and err.count("\n") == 1, data


def test_a_checksum_off_by_65521_is_not_a_header(tmp_path, capsys):
    """The checksum is compared exactly: a sum that agrees only modulo 65521 (adler32's modulus)
    is a corrupt header."""
    high = b"\xff" * 100  # high bytes in the name, link and prefix: a sum above 65521
    h = bytearray(tar_header(high, linkname=high, prefix=high + b"\xff" * 55))
    total = sum(h[:148]) + 8 * 32 + sum(h[156:])
    assert total > 65521
    h[148:156] = b"%06o\0 " % (total - 65521)
    tar = tar_header(b"first") + bytes(h) + END
    refused(
        mini(tmp_path, tar), "layer 0 (l0.tar): corrupt tar header at offset 512", capsys=capsys
    )


def test_sparse_maps_must_be_ordered_and_inside(tmp_path, capsys):
    recs = {"GNU.sparse.size": "100", "GNU.sparse.map": "50,10,0,10"}
    tar = raw_tar(pax_member(recs) + member(b"s", b"x" * 20))
    refused(mini(tmp_path, tar), "layer 0 (l0.tar): corrupt sparse map", capsys=capsys)


def test_symlink_walks_are_bounded_in_the_union(tmp_path):
    """2,000 re-pointed symlinks, each followed by an entry under it, deep targets: each walk
    is bounded, so the whole stays fast."""
    deep = "/".join(["a"] * 250)
    entries = []
    for i in range(2000):
        entries += [Symlink("s", deep if i % 2 else "/" + deep), File(f"s/x{i}")]
    img = image(mini(tmp_path, layer_tar(*entries)))
    start = time.monotonic()
    fs = final(img)
    assert time.monotonic() - start < 5
    assert fs[deep + "/x0"] == "file:" and fs["s"] == "symlink:" + deep


# -- 3. paths: validated before use, nothing read from outside -----------------------------------


@pytest.mark.parametrize(
    ("layers", "config", "message"),
    [
        (["../l0.tar"], "config.json", "path '../l0.tar' leaves the archive"),
        (["/etc/passwd"], "config.json", "path '/etc/passwd' leaves the archive"),
        (["x/../../l0.tar"], "config.json", "path 'x/../../l0.tar' leaves the archive"),
        (["l0.tar"], "/etc/hostname", "path '/etc/hostname' leaves the archive"),
        (["l0.tar"], "../config.json", "path '../config.json' leaves the archive"),
        (["l0.tar\0/../../x"], "config.json", "path 'l0.tar\\x00/../../x' leaves the archive"),
    ],
)
def test_manifest_paths(tmp_path, capsys, layers, config, message):
    p = mini(
        tmp_path, layer_tar(File("f")), edit=lambda m: m[0].update(Layers=layers, Config=config)
    )
    refused(p, message, capsys=capsys)


@pytest.mark.parametrize(
    ("links", "message"),
    [
        (
            {"symlinks": {"x": "../../etc/passwd"}},
            "x is a symlink that leaves the archive (../../etc/passwd)",
        ),
        ({"symlinks": {"x": "/etc/passwd"}}, "x is a symlink to an absolute path (/etc/passwd)"),
        (
            {"symlinks": {"x": "d/../../outside"}},
            "x is a symlink that leaves the archive (d/../../outside)",
        ),
        ({"hardlinks": {"x": "../../etc/passwd"}}, "path '../../etc/passwd' leaves the archive"),
        ({"hardlinks": {"x": "/etc/passwd"}}, "path '/etc/passwd' leaves the archive"),
        (
            {"symlinks": {"d": "../.."}, "layers": "d/etc/passwd"},
            "d is a symlink that leaves the archive (../..)",
        ),
        (
            {"symlinks": {"d": "/etc"}, "layers": "d/passwd"},
            "d is a symlink to an absolute path (/etc)",
        ),
        ({"symlinks": {"x": "."}}, "x is a symlink to the archive root"),
        (
            {"symlinks": {"x": "config.json/"}, "layers": "x/y"},
            "config.json is a file in the archive, not a directory",
        ),
    ],
)
def test_outer_links_stay_inside_the_archive(tmp_path, capsys, links, message):
    target = links.get("layers", "x")
    p = mini(
        tmp_path,
        layer_tar(File("f")),
        symlinks=links.get("symlinks"),
        hardlinks=links.get("hardlinks"),
        edit=lambda m: m[0].update(Layers=[target]),
    )
    refused(p, message, capsys=capsys)


def test_outer_links_inside_the_archive_are_followed(tmp_path, capsys):
    """podman's `<id>/layer.tar -> ../<diffid>.tar`, a symlinked parent, a parent that is the
    archive root and a hardlink: all resolve inside the archive, to the same bytes."""
    tar = layer_tar(File("f"))
    p = mini(
        tmp_path,
        tar,
        symlinks={"id/layer.tar": "../l0.tar", "alias": "id", "root": "."},
        hardlinks={"hard.tar": "alias/layer.tar"},
        config={"rootfs": {"type": "layers", "diff_ids": [sha(tar)] * 4}},
        edit=lambda m: m[0].update(
            Layers=["id/layer.tar", "alias/layer.tar", "root/l0.tar", "hard.tar"]
        ),
    )
    archive = layerscope.discover(str(p))
    assert len({ly.spec.location for ly in archive.images[0].layers}) == 1
    archive.close()
    accepted(p, capsys=capsys)


def test_an_outer_member_named_with_dotdot_is_unreachable(tmp_path, capsys):
    """A member stored as `../l0.tar` is not `l0.tar`: nothing can name it."""
    tar = layer_tar(File("f"))
    p = mini(
        tmp_path,
        files={"../l0.tar": tar},
        config={"rootfs": {"diff_ids": [sha(tar)]}},
        edit=lambda m: m[0].update(Layers=["l0.tar"]),
    )
    refused(p, "l0.tar is missing from the archive", capsys=capsys)


def _layout(tmp_path) -> tuple[Path, str]:
    root = oci_dir(tmp_path / "layout", [Img([Layer(File("f", b"x"))])])
    index = json.loads((root / "index.json").read_bytes())
    manifest = json.loads(
        (root / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_bytes()
    )
    return root, manifest["layers"][0]["digest"][7:]


def test_layout_directory_blob_symlinked_to_etc_passwd(tmp_path, capsys):
    root, layer = _layout(tmp_path)
    blob = root / "blobs/sha256" / layer
    blob.unlink()
    blob.symlink_to("/etc/passwd")
    refused(root, f"blobs/sha256/{layer} leaves the image directory", capsys=capsys)


def test_layout_directory_with_symlinked_blobs_dir_and_index(tmp_path, capsys):
    root, _ = _layout(tmp_path)
    outside = tmp_path / "outside"
    (root / "blobs").rename(outside)
    (root / "blobs").symlink_to(outside)
    index = json.loads((root / "index.json").read_bytes())
    manifest = "blobs/sha256/" + index["manifests"][0]["digest"][7:]
    refused(root, f"{manifest} leaves the image directory", capsys=capsys)
    root2, _ = _layout(tmp_path / "2")
    (tmp_path / "fake-index.json").write_bytes((root2 / "index.json").read_bytes())
    (root2 / "index.json").unlink()
    (root2 / "index.json").symlink_to(tmp_path / "fake-index.json")
    refused(root2, "index.json leaves the image directory", capsys=capsys)


def test_layout_directory_blob_symlinked_inside_is_fine(tmp_path, capsys):
    root, layer = _layout(tmp_path)
    blob = root / "blobs/sha256" / layer
    blob.rename(root / "elsewhere")
    blob.symlink_to("../../elsewhere")
    accepted(root, capsys=capsys)


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:../../../../etc/passwd",
        "sha256:" + "A" * 64,
        "sha512:" + "a" * 128,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 64 + "/../x",
        ["sha256:" + "a" * 64],
    ],
)
def test_digests_are_validated_before_use(tmp_path, capsys, digest):
    files = oci_layout([Img([Layer(File("f"))])])
    index = json.loads(files["index.json"])
    index["manifests"][0]["digest"] = digest
    files["index.json"] = json.dumps(index).encode()
    p = tmp_path / "o.tar"
    p.write_bytes(tar_of(files))
    shown = repr(digest[:80]) if isinstance(digest, str) else "a JSON array"
    refused(
        p, f"index.json: a manifest digest is not a valid sha256 digest: {shown}", capsys=capsys
    )


def test_json_values_of_the_wrong_type(tmp_path, capsys):
    files = oci_layout([Img([Layer(File("f"))])])
    index = json.loads(files["index.json"])
    index["manifests"][0]["mediaType"] = ["not", "a", "string"]
    index["manifests"][0]["annotations"] = {"org.opencontainers.image.ref.name": {"x": 1}}
    files["index.json"] = json.dumps(index).encode()
    p = tmp_path / "o.tar"
    p.write_bytes(tar_of(files))
    assert accepted(p, capsys=capsys)["images"][0]["refs"] == []
    nested = json.dumps(
        {"manifests": 5, "mediaType": "application/vnd.oci.image.index.v1+json"}
    ).encode()
    files["blobs/sha256/" + sha(nested)[7:]] = nested
    files["index.json"] = json.dumps({"manifests": [{"digest": sha(nested)}]}).encode()
    p.write_bytes(tar_of(files))
    refused(p, f"index {sha(nested)} has no manifests list", capsys=capsys)


def test_json_nested_too_deeply(tmp_path, capsys):
    """A label nested 500 deep is dropped (labels are strings); an index.json nested 100,000
    deep is refused (Python's parser would raise RecursionError)."""
    labels = {"x": json.loads("[" * 500 + "]" * 500), "ok": "yes", "n": 1}
    p = mini(tmp_path, layer_tar(File("f")), config={"config": {"Labels": labels}})
    accepted(p, capsys=capsys)
    assert image(p).config.labels == {"ok": "yes", "n": "1"}
    files = oci_layout([Img([Layer(File("f"))])])
    files["index.json"] = b'{"manifests": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    o = tmp_path / "o.tar"
    o.write_bytes(tar_of(files))
    refused(o, "index.json is not valid JSON (nested too deeply)", capsys=capsys)


# -- 4. entries: shown as what they are, flagged, never followed out of the image --------------


def test_hostile_entry_names_are_kept_and_flagged(tmp_path, capsys):
    tar = layer_tar(
        Raw(tarfile.TarInfo("../../etc/passwd"), b"evil"),
        Raw(tarfile.TarInfo("/etc/shadow"), b"evil"),
        Raw(tarfile.TarInfo(".wh."), b""),
        Raw(tarfile.TarInfo("d/.wh.."), b""),
        Raw(tarfile.TarInfo("d/.wh..."), b""),
        Hardlink("hl-up", "../../etc/passwd"),
        Hardlink("hl-abs", "/etc/passwd"),
        Symlink("sl-abs", "/etc/passwd"),
        Symlink("sl-up", "../../../etc/passwd"),
    )
    report = accepted(mini(tmp_path, tar), capsys=capsys)
    files = {
        f["path"]: (f["type"], f.get("flags", []), f["link"])
        for f in report["images"][0]["layers"][0]["files"]
    }
    assert files == {
        "etc/passwd": ("file", ["dotdot"], None),
        "etc/shadow": ("file", ["absolute"], None),
        ".wh.": ("file", ["invalid-whiteout"], None),
        "d/.wh..": ("file", ["invalid-whiteout"], None),
        "d/.wh...": ("file", ["invalid-whiteout"], None),
        "hl-up": ("hardlink", ["dotdot"], "etc/passwd"),
        "hl-abs": ("hardlink", ["absolute"], "etc/passwd"),
        "sl-abs": ("symlink", [], "/etc/passwd"),
        "sl-up": ("symlink", [], "../../../etc/passwd"),
    }
    li = image(mini(tmp_path, tar, name="b.tar")).layers[0].data
    assert li.extras[0]["raw_name"] == "../../etc/passwd"


def test_dotdot_entries_act_at_their_place_under_the_root(tmp_path):
    """`..` stops at the image root, as containerd's fs.RootPath does: `../../etc/passwd`
    replaces the image's etc/passwd (flagged), and `x/../../.wh.etc` deletes the image's etc.
    Nothing else is touched."""
    lower = layer_tar(File("etc/passwd", b"lower"), File("etc/group", b"lower"), File("keep"))
    upper = layer_tar(Raw(tarfile.TarInfo("../../etc/passwd"), b"upper"))
    img = image(mini(tmp_path, lower, upper))
    assert final(img) == {
        "etc": "dir",
        "etc/passwd": "file:upper",
        "etc/group": "file:lower",
        "keep": "file:",
    }
    assert [(h.path, h.how) for h in img.hidden] == [("etc/passwd", "overwritten")]
    gone = layer_tar(Raw(tarfile.TarInfo("x/../../.wh.etc"), b""))
    img = image(mini(tmp_path, lower, gone, name="b.tar"))
    assert final(img) == {"keep": "file:"}
    assert img.layers[1].data.entry(0)[:2] == ("etc", "whiteout")


def test_invalid_whiteouts_delete_nothing(tmp_path):
    lower = layer_tar(File("etc/passwd", b"lower"), File("d/f", b"lower"))
    upper = layer_tar(
        *[
            Raw(tarfile.TarInfo(n), b"")
            for n in (".wh.", ".wh..", ".wh...", "d/.wh.", "d/.wh..", "d/.wh...")
        ]
    )
    fs = final(image(mini(tmp_path, lower, upper)))
    assert fs["etc/passwd"] == "file:lower" and fs["d/f"] == "file:lower"
    assert {p for p in fs if ".wh." in p} == {
        ".wh.",
        ".wh..",
        ".wh...",
        "d/.wh.",
        "d/.wh..",
        "d/.wh...",
    }


def test_an_entry_under_a_symlink_loop_stays_at_its_written_name(tmp_path):
    """`a -> b`, `b -> a`: `a/f` cannot be resolved (ELOOP); it is shown at `a/f`, the loop's
    `a` replaced by a directory (as a written name would), `b` untouched."""
    img = image(
        mini(
            tmp_path, layer_tar(Symlink("a", "b"), Symlink("b", "a")), layer_tar(File("a/f", b"x"))
        )
    )
    assert final(img) == {"a": "dir", "a/f": "file:x", "b": "symlink:a"}
    assert [(h.path, h.how) for h in img.hidden] == [("a", "type-change")]


def test_whiteouts_through_a_symlink_apply_in_tar_order(tmp_path):
    """Following symlinks (--apply follow): `.wh.l` deletes the symlink l, not its target;
    `l/.wh.passwd` deletes etc/passwd through l while l stands: markers apply in tar order, as
    an engine extracting the tar would. Overlay storage never deletes through l."""
    lower = layer_tar(File("etc/passwd", b"lower"), Symlink("l", "/etc"))
    first = mini(tmp_path, lower, layer_tar(Whiteout("l"), Whiteout("l/passwd")))
    assert final(image(first, apply="follow")) == {"etc": "dir", "etc/passwd": "file:lower"}
    then = mini(tmp_path, lower, layer_tar(Whiteout("l/passwd"), Whiteout("l")), name="b")
    assert final(image(then, apply="follow")) == {"etc": "dir"}
    for p in (first, then):
        assert final(image(p))["etc/passwd"] == "file:lower"


def test_opaque_through_a_symlinked_parent(tmp_path):
    img = image(
        mini(
            tmp_path,
            layer_tar(File("real/a", b"lower"), Symlink("link", "real")),
            layer_tar(Opaque("link"), File("link/b", b"upper")),
        ),
        apply="follow",
    )
    assert final(img) == {"real": "dir", "real/b": "file:upper", "link": "symlink:real"}


# -- containerd's breakout tests (archive/tar_test.go TestBreakouts), adapted to reading ------
#
# containerd extracts each case into a directory and checks the files there; layerscope has no
# directory to escape from, so each case checks the final filesystem of the image: every write
# lands under the image root, where containerd's checks expect it.

X = tarfile.TarInfo


def _raw(name: str, data: bytes = b"") -> Raw:
    return Raw(X(name), data)


BREAKOUTS = {
    "SymlinkAbsolute": (
        None,
        [Dir("etc"), Symlink("localetc", "/etc"), _raw("/localetc/unbroken", b"unbroken")],
        {"etc/unbroken": "file:unbroken"},
    ),
    "SymlinkUpAndOut": (
        None,
        [Dir("etc"), Dir("dummy"), Symlink("localetc", "/dummy/../etc"),
         _raw("/localetc/unbroken", b"unbroken")],
        {"etc/unbroken": "file:unbroken"},
    ),
    "SymlinkMultipleAbsolute": (
        None,
        [Dir("etc"), Dir("dummy"), Symlink("/dummy/etc", "/etc"),
         Symlink("localetc", "/dummy/etc"), _raw("/dummy/etc/unbroken", b"unbroken")],
        {"etc/unbroken": "file:unbroken"},
    ),
    "SymlinkMultipleRelative": (
        None,
        [Dir("etc"), Dir("dummy"), Symlink("/dummy/etc", "/etc"),
         Symlink("localetc", "./dummy/etc"), _raw("/dummy/etc/unbroken", b"unbroken")],
        {"etc/unbroken": "file:unbroken"},
    ),
    "SymlinkEmptyFile": (
        None,
        [Dir("etc"), File("etc/emptied", b"notempty"), Symlink("localetc", "/etc"),
         _raw("/localetc/emptied", b"")],
        {"etc/emptied": "file:"},
    ),
    "HardlinkRelative": (
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Dir("breakouts"),
         Symlink("breakouts/d1", "../../etc"), Hardlink("breakouts/mypasswd", "/breakouts/d1/passwd")],
        {"breakouts/mypasswd": "hardlink:inside", "etc/passwd": "file:inside"},
    ),
    "HardlinkDownAndOut": (
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Dir("breakouts"), Dir("downandout"),
         Symlink("breakouts/d1", "../downandout/../../etc"),
         Hardlink("breakouts/mypasswd", "/breakouts/d1/passwd")],
        {"breakouts/mypasswd": "hardlink:inside"},
    ),
    "HardlinkAbsolute": (
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Symlink("localetc", "/etc"),
         Hardlink("localpasswd", "/localetc/passwd")],
        {"localpasswd": "hardlink:inside"},
    ),
    "HardlinkRelativeLong": (
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Symlink("localetc", "../../../../../../../etc"),
         Hardlink("localpasswd", "/localetc/passwd")],
        {"localpasswd": "hardlink:inside"},
    ),
    "HardlinkRelativeUpAndOut": (
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Symlink("localetc", "upandout/../../../etc"),
         Hardlink("localpasswd", "/localetc/passwd")],
        {"localpasswd": "hardlink:inside"},
    ),
    "HardlinkDirectRelative": (
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Hardlink("localpasswd", "../../../../../etc/passwd")],
        {"localpasswd": "hardlink:inside"},
    ),
    "HardlinkDirectAbsolute": (
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Hardlink("localpasswd", "/etc/passwd")],
        {"localpasswd": "hardlink:inside"},
    ),
    "SymlinkParentDirectory": (  # a symlink named `..` is the root entry: metadata only
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Symlink("..", "/etc/"),
         Hardlink("localpasswd", "/etc/passwd")],
        {"etc": "dir", "etc/passwd": "file:inside", "localpasswd": "hardlink:inside"},
    ),
    "SymlinkEmptyFilename": (
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Symlink("", "/etc/"),
         Hardlink("localpasswd", "/etc/passwd")],
        {"etc": "dir", "etc/passwd": "file:inside", "localpasswd": "hardlink:inside"},
    ),
    "SymlinkParentRelative": (
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Symlink("localetc/sub/..", "/etc/"),
         Hardlink("/localetc/localpasswd", "/etc/passwd")],
        {"etc/localpasswd": "hardlink:inside", "localetc": "symlink:/etc/"},
    ),
    "SymlinkSlashEnded": (
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Dir("localetc/"),
         Hardlink("/localetc/localpasswd", "/etc/passwd")],
        {"localetc/localpasswd": "hardlink:inside"},
    ),
    "SymlinkOverrideDirectory": (
        [Dir("etc"), File("etc/passwd", b"inside"), Dir("localetc")],
        [Symlink("localetc", "/etc"), Hardlink("/localetc/localpasswd", "/etc/passwd")],
        {"localetc": "symlink:/etc", "etc/localpasswd": "hardlink:inside"},
    ),
    "SymlinkOverrideDirectoryRelative": (
        [Dir("etc"), File("etc/passwd", b"inside"), Dir("localetc")],
        [Symlink("localetc", "../../etc"), Hardlink("/localetc/localpasswd", "/etc/passwd")],
        {"localetc": "symlink:../../etc", "etc/localpasswd": "hardlink:inside"},
    ),
    "DirectoryOverrideSymlink": (  # a directory replaces the symlink (OCI: only dir/dir merge)
        [Dir("etc"), File("etc/passwd", b"inside"), Symlink("localetc", "/etc")],
        [Dir("/localetc/"), Hardlink("/localetc/localpasswd", "/etc/passwd")],
        {"localetc": "dir", "localetc/localpasswd": "hardlink:inside"},
    ),
    "DirectoryOverrideSymlinkAndHardlink": (
        [Dir("etc"), File("etc/passwd", b"inside"), Symlink("localetc", "etc"),
         Hardlink("/localetc/localpasswd", "/etc/passwd")],
        [Dir("/localetc/"), _raw("/localetc/localpasswd", b"different")],
        {"localetc/localpasswd": "file:different", "etc/passwd": "file:inside",
         "etc/localpasswd": "hardlink:inside"},
    ),
    "WhiteoutRootParent": (  # containerd refuses the layer; we keep it, flagged, deleting nothing
        [Dir("etc"), File("etc/passwd", b"inside")],
        [_raw(".wh...")],
        {"etc/passwd": "file:inside", ".wh...": "file:"},
    ),
    "WhiteoutParent": (
        [Dir("etc"), File("etc/passwd", b"inside")],
        [_raw("etc/.wh...")],
        {"etc/passwd": "file:inside", "etc/.wh...": "file:"},
    ),
    "WhiteoutRoot": (
        [Dir("etc"), File("etc/passwd", b"inside")],
        [_raw(".wh..")],
        {"etc/passwd": "file:inside", ".wh..": "file:"},
    ),
    "WhiteoutCurrentDirectory": (
        [Dir("etc"), File("etc/passwd", b"inside")],
        [_raw("etc/.wh..")],
        {"etc/passwd": "file:inside", "etc/.wh..": "file:"},
    ),
    "WhiteoutSymlink": (
        [Dir("etc"), File("etc/passwd", b"all users"), Symlink("localetc", "/etc")],
        [_raw(".wh.localetc")],
        {"etc": "dir", "etc/passwd": "file:all users"},
    ),
    "WhiteoutSymlinkPath": (
        [Dir("etc"), File("etc/passwd", b"all users"), File("etc/whitedout", b"ahhhh whiteout"),
         Symlink("localetc", "/etc")],
        [_raw("localetc/.wh.whitedout")],
        {"etc": "dir", "etc/passwd": "file:all users", "localetc": "symlink:/etc"},
    ),
    "WhiteoutDirectoryName": (
        [Dir("etc"), File("etc/passwd", b"all users"), File("etc/whitedout", b"ahhhh whiteout"),
         Symlink("localetc", "/etc")],
        [_raw(".wh.etc/somefile", b"non-empty")],
        {"etc/passwd": "file:all users", ".wh.etc/somefile": "file:non-empty"},
    ),
    "WhiteoutDeadSymlinkParent": (
        [Dir("etc"), File("etc/passwd", b"all users"), Symlink("localetc", "/dne")],
        [_raw("localetc/.wh.etc")],
        {"etc": "dir", "etc/passwd": "file:all users", "localetc": "symlink:/dne"},
    ),
    "WhiteoutRelativePath": (
        [Dir("etc"), File("etc/passwd", b"all users"), Symlink("localetc", "/dne")],
        [_raw("dne/../.wh.etc")],
        {"localetc": "symlink:/dne"},
    ),
    "HardlinkSymlinkBeforeCreateTarget": (  # a hardlink to a symlink is that symlink's twin
        None,
        [Dir("etc"), Symlink("localpasswd", "/etc/passwd"), Hardlink("localpasswd-dup", "localpasswd"),
         _raw("/etc/passwd", b"after")],
        {"localpasswd": "symlink:/etc/passwd", "localpasswd-dup": "hardlink:->localpasswd",
         "etc/passwd": "file:after"},
    ),
    "HardlinkSymlinkRelative": (
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Symlink("passwdlink", "../../../../../etc/passwd"),
         Hardlink("localpasswd", "/passwdlink")],
        {"passwdlink": "symlink:../../../../../etc/passwd", "localpasswd": "hardlink:->passwdlink"},
    ),
    "HardlinkSymlinkAbsolute": (
        None,
        [Dir("etc"), _raw("/etc/passwd", b"inside"), Symlink("passwdlink", "/etc/passwd"),
         Hardlink("localpasswd", "/passwdlink")],
        {"passwdlink": "symlink:/etc/passwd", "localpasswd": "hardlink:->passwdlink"},
    ),
    "HardlinkSymlinkChmod": (  # a host path as an entry name: just a path inside the image
        None,
        [Symlink("/tmp/td/also-exists-outside-root", "/tmp/td/perm400"),
         Hardlink("sketchylink", "/tmp/td/also-exists-outside-root")],
        {"tmp/td/also-exists-outside-root": "symlink:/tmp/td/perm400",
         "sketchylink": "hardlink:->tmp/td/also-exists-outside-root"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BREAKOUTS))
def test_containerd_breakouts(tmp_path, case):
    lower, upper, expected = BREAKOUTS[case]
    layers = ([layer_tar(*lower)] if lower else []) + [layer_tar(*upper)]
    archive = mini(tmp_path, *layers)
    overlay = final(image(archive))  # nothing followed across layers: nothing to escape by
    assert all(not p.startswith(("/", "../")) and "/../" not in p for p in overlay)
    fs = final(image(archive, apply="follow"))  # as containerd applies a layer onto a root
    got = {path: fs.get(path) for path in expected}
    assert got == expected, fs
    assert all(not p.startswith(("/", "../")) and "/../" not in p for p in fs)


@pytest.mark.parametrize("case", sorted(BREAKOUTS))
def test_export_of_a_breakout_image_stays_in_its_destination(tmp_path, case):
    """docs/formats.md 31, with the export feature: the whole image written out, each breakout
    case's symlinks and `..` names included, and nothing appears outside the destination."""
    from layerscope.insight.export import export

    lower, upper, _ = BREAKOUTS[case]
    layers = ([layer_tar(*lower)] if lower else []) + [layer_tar(*upper)]
    (tmp_path / "in").mkdir()
    img = image(mini(tmp_path / "in", *layers))
    before = {p for p in tmp_path.rglob("*")}
    dest = tmp_path / "dest"
    with contextlib.suppress(LayerscopeError):  # a refusal is fine; a write elsewhere is not
        export(img, "", len(img.layers) - 1, str(dest))
    new = {p for p in tmp_path.rglob("*")} - before
    assert all(p == dest or dest in p.parents for p in new), sorted(new)


def test_whiteouts_through_symlinks_never_reach_outside_the_root(tmp_path):
    """A whiteout under `up -> ../../..` resolves to the image root: it deletes the image's
    `etc`, the only `etc` there is."""
    img = image(
        mini(
            tmp_path,
            layer_tar(File("etc/passwd", b"lower"), Symlink("up", "../../..")),
            layer_tar(_raw("up/.wh.etc")),
        ),
        apply="follow",
    )
    assert final(img) == {"up": "symlink:../../.."}


# -- 5. every failure: one line, exit 2 ----------------------------------------------------------


def _good(tmp_path) -> tuple[bytes, int]:
    """A small docker-archive, and where its last member's data ends."""
    img = Img(
        [
            Layer(File("etc/motd", b"hi"), Symlink("l", "etc"), compression="gzip"),
            Layer(Whiteout("etc/motd"), File("b", b"x" * 3000)),
        ]
    )
    p = docker_archive(tmp_path / "good.tar", [img])
    with tarfile.open(p) as tf:
        end = max(m.offset_data + m.size for m in tf.getmembers())
    return p.read_bytes(), end


def test_every_truncation_is_one_line(tmp_path, capsys):
    data, end = _good(tmp_path)
    p = tmp_path / "cut.tar"
    for cut in range(0, end, 251):
        p.write_bytes(data[:cut])
        code, out, err = cli(str(p), "--json", str(tmp_path / "r.json"), capsys=capsys)
        assert code == 2 and out == "", cut
        assert err.startswith(f"layerscope: {p}: ") and err.count("\n") == 1, (cut, err)


def test_every_corrupt_header_block_is_one_line(tmp_path, capsys):
    data = bytearray(_good(tmp_path)[0])
    p = tmp_path / "bad.tar"
    for at in range(0, len(data), 512):
        for pos in (0, 100, 124, 148, 156, 157, 257, 345):
            bad = bytearray(data)
            bad[at + pos] ^= 0xFF
            p.write_bytes(bytes(bad))
            code, out, err = cli(str(p), "--json", str(tmp_path / "r.json"), capsys=capsys)
            assert code in (0, 2) and out == "", (at, pos)
            assert code == 0 or (err.startswith(f"layerscope: {p}: ") and err.count("\n") == 1)


def test_no_program_is_run_for_any_compression(tmp_path, capsys):
    """gzip, zstd, bzip2 and xz, whole and per layer, decoded in process (docs/formats.md 33); the
    sandbox fixture fails the test if anything is run."""
    for kind in ("gzip", "zstd", "bzip2", "xz"):
        p = mini(
            tmp_path,
            Layer(tar=layer_tar(File("f", b"x")), compression=kind),
            whole=kind,
            name=f"{kind}.tar",
        )
        accepted(p, capsys=capsys)


def test_library_raises_only_layerscope_errors(tmp_path):
    """The API gives LayerscopeError subclasses for bad input (OSError included)."""
    root, layer = _layout(tmp_path)
    (root / "blobs/sha256" / layer).chmod(0)
    if os.access(root / "blobs/sha256" / layer, os.R_OK):
        pytest.skip("running as root: permissions do not apply")
    with pytest.raises(LayerscopeError):
        layerscope.open(str(root))


def test_a_huge_name_in_a_message_is_cut(tmp_path, capsys):
    long = "n" * 100_000 + ".tar"
    p = mini(tmp_path, layer_tar(File("f")), edit=lambda m: m[0].update(Layers=[long]))
    code, _, err = cli(str(p), "--json", "-", "--max-path-length", "200000", capsys=capsys)
    assert code == 2 and err.count("\n") == 1 and len(err) < 2200 and " [...] " in err


def test_an_internal_error_is_one_line_too(tmp_path, capsys, monkeypatch):
    """A bug is not bad input, but it is still one line (and --debug shows the traceback)."""
    import layerscope.read.formats

    def boom(*a, **k):
        raise KeyError("surprise")

    monkeypatch.setattr(layerscope.read.formats, "parse_config", boom)
    p = mini(tmp_path, layer_tar(File("f")))
    code, out, err = cli(str(p), "--json", "-", capsys=capsys)
    assert (code, out) == (2, "")
    assert err == (
        "layerscope: internal error: KeyError: 'surprise' (a bug: --debug shows the traceback)\n"
    )
    with pytest.raises(KeyError):
        main([str(p), "--json", "-", "--debug"])


def test_middle_cut_keeps_both_ends_within_width() -> None:
    from layerscope.text import cells, middle_cut

    path = "/usr/share/doc/python3/dist-packages/something/very/long/name.py"
    cut = middle_cut(path, 30)
    assert cells(cut) == 30 and cut.endswith("long/name.py") and cut.startswith("/usr/")
    assert middle_cut("short", 30) == "short"
    wide = middle_cut("漢字" * 6, 9)
    assert cells(wide) <= 9 and wide.startswith("漢") and wide.endswith("字")
    assert middle_cut("abcdef", 0) == "" and middle_cut("abcdef", 1) == "…"
