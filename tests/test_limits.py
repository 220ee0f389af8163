"""Limits that protect without refusing real images (issue 13): the guard on time is the work a
layer and an archive make the reader do (`--max-layer-bytes`, `--max-archive-bytes`), not a
ratio; sparse holes count as work and an enormous claim is refused before any is hashed; paths
are bounded by their length (2048 components at most), and every part of layerscope walks them
without recursion."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path

import pytest
import zstandard
from builder import (
    END,
    File,
    Img,
    Layer,
    Whiteout,
    compress,
    docker_archive,
    gnu_sparse_member,
    layer_tar,
    pax_sparse_member,
    raw_tar,
    sha,
    sparse_content,
    tar_header,
    tar_of,
)

import layerscope
from layerscope.cli import main
from layerscope.insight.compare import compare
from layerscope.insight.pathhistory import path_history
from layerscope.insight.waste import waste
from layerscope.limits import Limits, MiB
from layerscope.output.report import write_report
from layerscope.ui.screens.compare import difference_tree
from layerscope.views.listing import Listing
from layerscope.views.outline import Outline, all_dirs
from layerscope.views.treeview import build_view

# -- harness ---------------------------------------------------------------------------------


def archive(tmp_path: Path, *layers: tuple[bytes, str], uses: list[int] | None = None,
            whole: str | None = None) -> Path:  # fmt: skip
    """A docker-archive with members `l0.tar`, `l1.tar`... holding the blobs (blob, diff_id);
    `uses` lists the layer of each position (default: each once, in order)."""
    order = uses if uses is not None else list(range(len(layers)))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layers[i][1] for i in order]},
    }
    members = {"config.json": json.dumps(config).encode()}
    members.update({f"l{i}.tar": blob for i, (blob, _) in enumerate(layers)})
    manifest = [{"Config": "config.json", "RepoTags": ["limits:1"],
                 "Layers": [f"l{i}.tar" for i in order]}]  # fmt: skip
    members["manifest.json"] = json.dumps(manifest).encode()
    path = tmp_path / "a.tar"
    path.write_bytes(compress(tar_of(members), whole))
    return path


def plain(tar: bytes) -> tuple[bytes, str]:
    return tar, sha(tar)


def gzipped(tar: bytes) -> tuple[bytes, str]:
    return compress(tar, "gzip"), sha(tar)


def run(path: Path, *flags: str, capsys) -> tuple[int, str, str]:
    code = main([str(path), *flags])
    out, err = capsys.readouterr()
    return code, out, err


def accepted(path: Path, *flags: str, capsys) -> dict:
    code, out, err = run(path, "--json", "-", *flags, capsys=capsys)
    assert (code, err) == (0, ""), err
    return json.loads(out)


def refused(path: Path, message: str, *flags: str, capsys) -> None:
    code, out, err = run(path, "--json", "-", *flags, capsys=capsys)
    assert (code, out, err) == (2, "", f"layerscope: {path}: {message}\n")


LAYER_LIMIT = "the layer holds over {} (its tar and the holes of its sparse files); raise with " \
    "--max-layer-bytes"  # fmt: skip
ARCHIVE_LIMIT = "the layers of this input hold over {} in all (tar bytes and sparse holes, each " \
    "use of a layer counted); raise with --max-archive-bytes"  # fmt: skip

# -- real images that a ratio refused ----------------------------------------------------------

ZERO_CHUNK = bytes(4 * MiB)


def zeros_zstd(files: dict[str, int]) -> tuple[bytes, str]:
    """A zstd layer of zero-filled files (as `dd if=/dev/zero` writes them), compressed as it is
    made, and its diff_id: 100 MB of zeros never sit in memory at once."""
    cobj = zstandard.ZstdCompressor(level=3).compressobj()
    diff = hashlib.sha256()
    out = []

    def put(data: bytes) -> None:
        diff.update(data)
        out.append(cobj.compress(data))

    for name, size in files.items():
        put(tar_header(name.encode(), size=size))
        left = size + (-size % 512)
        while left:
            put(ZERO_CHUNK[: min(left, len(ZERO_CHUNK))])
            left -= min(left, len(ZERO_CHUNK))
    put(END)
    out.append(cobj.flush())
    return b"".join(out), "sha256:" + diff.hexdigest()


def zeros_digest(size: int) -> str:
    h = hashlib.sha256()
    while size:
        h.update(ZERO_CHUNK[: min(size, len(ZERO_CHUNK))])
        size -= min(size, len(ZERO_CHUNK))
    return "sha256:" + h.hexdigest()


def test_a_zstd_layer_of_zero_filled_files_is_read_exactly(tmp_path, capsys):
    """100.7 MB of zeros compress to a few KB (a ratio of about 10,000, which the old default of
    1000 refused): read by default, every size exact, and judged by --ci."""
    files = {"zeros/a": 64 * MiB, "zeros/b": 36 * MiB + 12_345, "zeros/empty": 0}
    blob, diff_id = zeros_zstd(files)
    assert len(blob) < 20_000
    path = archive(tmp_path, (blob, diff_id))
    layer = accepted(path, "--no-cache", capsys=capsys)["images"][0]["layers"][0]
    assert (layer["compression"], layer["stored_size"], layer["diff_id"]) == (
        "zstd",
        len(blob),
        diff_id,
    )
    assert layer["size"] == sum(files.values())
    assert {f["path"]: (f["size"], f["digest"]) for f in layer["files"]} == {
        name: (size, zeros_digest(size)) for name, size in files.items()
    }
    code, out, err = run(path, "--ci", capsys=capsys)
    assert code in (0, 1) and err == "" and "PASS: 1 image" in out


def test_gnu_and_pax_sparse_files_are_read(tmp_path, capsys):
    """Sparse files of 3 MiB each (holes counted) in a layer of a few hundred bytes: read by
    default, with their logical sizes and the digests of their logical contents."""
    size = 3 * MiB
    segments = [(0, b"head"), (MiB, b"middle"), (size - 4, b"tail")]
    tar = raw_tar(
        gnu_sparse_member(b"gnu", size, segments),
        *(pax_sparse_member(f"pax{v}".encode(), size, segments, v) for v in ("0.0", "0.1", "1.0")),
    )
    blob, diff_id = gzipped(tar)
    assert len(blob) < 1000
    layer = accepted(archive(tmp_path, (blob, diff_id)), "--no-cache", capsys=capsys)
    files = layer["images"][0]["layers"][0]["files"]
    digest = sha(sparse_content(size, segments))
    assert [(f["path"], f["size"], f["digest"], f["flags"]) for f in files] == [
        (name, size, digest, ["sparse"]) for name in ("gnu", "pax0.0", "pax0.1", "pax1.0")
    ]


def test_an_enormous_sparse_file_is_refused_at_once(tmp_path, capsys):
    """A 3-KB layer claiming a sparse file of 64 TiB: refused before a byte of its holes is
    hashed, naming the flag; raised past that, the archive's limit (1 TiB) refuses it."""
    huge = 64 * 1024 * 1024 * MiB
    path = archive(tmp_path, plain(raw_tar(pax_sparse_member(b"s", huge, [(0, b"x")]))))
    start = time.monotonic()
    refused(path, "layer 0 (l0.tar): " + LAYER_LIMIT.format("256 GiB"), capsys=capsys)
    refused(
        path,
        "layer 0 (l0.tar): " + ARCHIVE_LIMIT.format("1 TiB"),
        "--max-layer-bytes",
        "100TiB",
        capsys=capsys,
    )
    assert time.monotonic() - start < 2


# -- the limits on work, set low -----------------------------------------------------------------


def test_the_layer_limit_names_its_flag(tmp_path, capsys):
    path = archive(tmp_path, gzipped(layer_tar(File("big", bytes(2 * MiB)))))
    message = "layer 0 (l0.tar): " + LAYER_LIMIT.format("1 MiB")
    refused(path, message, "--max-layer-bytes", "1MiB", "--no-cache", capsys=capsys)
    accepted(path, "--max-layer-bytes", "3MiB", capsys=capsys)
    # from the cache as from the blob: the outcome does not depend on what a past run kept
    refused(path, message, "--max-layer-bytes", "1MiB", capsys=capsys)


def test_holes_count_against_the_layer_limit(tmp_path, capsys):
    path = archive(tmp_path, plain(raw_tar(gnu_sparse_member(b"s", 3 * MiB, [(0, b"x")]))))
    message = "layer 0 (l0.tar): " + LAYER_LIMIT.format("2 MiB")
    refused(path, message, "--max-layer-bytes", "2MiB", "--no-cache", capsys=capsys)
    accepted(path, "--max-layer-bytes", "4MiB", capsys=capsys)


def test_the_archive_limit_names_its_flag(tmp_path, capsys):
    """Two layers of 600 KiB: the second takes the archive over 1 MiB."""
    layers = [gzipped(layer_tar(File(f"f{i}", bytes([i]) * 600 * 1024))) for i in range(2)]
    path = archive(tmp_path, *layers)
    message = "layer 1 (l1.tar): " + ARCHIVE_LIMIT.format("1 MiB")
    refused(path, message, "--max-archive-bytes", "1MiB", "--no-cache", capsys=capsys)
    accepted(path, "--max-archive-bytes", "2MiB", capsys=capsys)
    refused(path, message, "--max-archive-bytes", "1MiB", capsys=capsys)  # from the cache


def test_the_archive_limit_counts_each_use(tmp_path, capsys):
    """One layer of 600 KiB used at two positions counts twice."""
    path = archive(tmp_path, gzipped(layer_tar(File("f", b"x" * 600 * 1024))), uses=[0, 0])
    message = "layer 0 (l0.tar): " + ARCHIVE_LIMIT.format("1 MiB")
    refused(path, message, "--max-archive-bytes", "1MiB", "--no-cache", capsys=capsys)
    doc = accepted(path, "--max-archive-bytes", "2MiB", capsys=capsys)
    assert [ly["index"] for ly in doc["images"][0]["layers"]] == [0, 1]


def test_the_archive_limit_bounds_a_compressed_archive(tmp_path, capsys):
    path = archive(tmp_path, plain(layer_tar(File("f", bytes(2 * MiB)))), whole="gzip")
    refused(
        path,
        "the archive decompresses to over 1 MiB; raise with --max-archive-bytes",
        "--max-archive-bytes",
        "1MiB",
        capsys=capsys,
    )
    accepted(path, capsys=capsys)


def test_the_archive_limit_in_worker_processes(tmp_path):
    """Four layers of 400 KiB read by two processes under 1 MiB: two are read, the read that
    crosses and the rest are refused, each naming the flag, and nothing is left running."""
    layers = [gzipped(layer_tar(File(f"f{i}", bytes([i]) * 400 * 1024))) for i in range(4)]
    path = archive(tmp_path, *layers)
    with layerscope.discover(str(path), limits=Limits(max_archive_bytes=MiB)) as arch:
        results = list(arch.read_each(arch.distinct_layers(), workers=2))
    assert len(results) == 4
    errors = [str(e) for _, e in results if e is not None]
    assert len(errors) == 2
    assert all(e.endswith("raise with --max-archive-bytes") for e in errors), errors


def test_a_refused_layer_in_ci_is_an_error_that_names_the_flag(tmp_path, capsys):
    path = archive(tmp_path, gzipped(layer_tar(File("big", bytes(2 * MiB)))))
    code, out, err = run(path, "--ci", "--max-layer-bytes", "1MiB", capsys=capsys)
    message = "layer 0 (l0.tar): " + LAYER_LIMIT.format("1 MiB")
    assert (code, out, err) == (2, "", f"layerscope: {path}: {message}\n")


def test_the_ratio_limit_is_off_unless_asked_for(tmp_path, capsys):
    path = archive(tmp_path, gzipped(layer_tar(File("zeros", bytes(8 * MiB)))))
    accepted(path, capsys=capsys)
    refused(
        path,
        "layer 0 (l0.tar): the layer decompresses to over 1000x its stored size; raise with "
        "--max-ratio",
        "--max-ratio",
        "1000",
        capsys=capsys,
    )


def test_size_flags_take_units(capsys):
    with pytest.raises(SystemExit):
        main(["x.tar", "--max-layer-bytes", "12 parsecs"])
    assert "--max-layer-bytes: invalid size '12 parsecs'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    assert "--max-layer-bytes SIZE most bytes a layer makes layerscope read" in helptext
    assert "(default 256 GiB)" in helptext and "(default 1 TiB)" in helptext
    assert "(default 0: off)" in helptext and "--max-path-depth" not in helptext


# -- deep paths ----------------------------------------------------------------------------------


def test_a_path_300_directories_deep_is_read(tmp_path, capsys):
    deep = "/".join(["d"] * 299) + "/f"
    doc = accepted(archive(tmp_path, plain(layer_tar(File(deep, b"x")))), capsys=capsys)
    assert [f["path"] for f in doc["images"][0]["layers"][0]["files"]] == [deep]


def test_paths_2048_components_deep_need_no_recursion(tmp_path):
    """The longest name (4095 bytes) holds 2048 components: the report, the union filesystem,
    the views (every directory open), waste, history, compare and the compare view's tree all
    walk it (Python's recursion limit is 1000)."""
    deep = "/".join(["a"] * 2047) + "/f"
    other = "/".join(["a"] * 2045) + "/g"  # its whiteout's name: 4095 bytes
    below = Layer(File(deep, b"x"), File(other, b"o"))
    above = Layer(File(deep, b"yy"), Whiteout(other))
    path = docker_archive(
        tmp_path / "deep.tar", [Img([below, above]), Img([Layer(File(deep, b"zzz"))])]
    )
    with layerscope.open(str(path)) as arch:
        a, b = arch.images
        assert (a.size, a.final_size, a.reclaimable_bytes) == (4, 2, 2)
        out = io.StringIO()
        write_report(out, arch.images, files=True, comparison=compare(a, b))
        files = json.loads(out.getvalue())["images"][0]["layers"][0]["files"]
        assert {deep, other} <= {f["path"] for f in files}
        assert {h.path for h in a.hidden} == {deep, other}
        assert sum(w.size for w in waste(a).items) == 2
        assert len(path_history(a, deep)) == 2
        for layer in (0, 1):
            for mode in ("changes", "image"):
                view = build_view(a, layer, mode)
                outline = Outline(Listing(view), expanded=all_dirs(view))
                assert len(outline) >= 2048
                assert Outline(Listing(view)).reveal(view.find(deep)) == 2047
        root = difference_tree(compare(a, b))
        assert [n.name for n in root.walk()][-1] == "f"
