"""`layerscope slim`: the written image re-read by layerscope has the source's final filesystem
entry for entry, the announced figures, its kept layers byte for byte; the command's safety."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from builder import (
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
    docker_archive,
    open_image,
    padded,
    pax_sparse_member,
    raw_tar,
    tar_header,
)
from slimcheck import slim_and_check

import layerscope
from layerscope.cli import main
from layerscope.read.records import DIR, F_SPARSE, FIFO, FILE, HARDLINK, SYMLINK, LayerIndex
from layerscope.write import imagefiles, layertar
from layerscope.write.plan import default_keep, options, plan


def _xattr_file(path: str, data: bytes, **xattrs: bytes) -> Raw:
    ti = tarfile.TarInfo(path)
    ti.mode, ti.mtime, ti.uid = 0o640, 1_700_000_000, 33
    ti.pax_headers = {
        f"SCHILY.xattr.{k.replace('_', '.')}": v.decode("utf-8", "surrogateescape")
        for k, v in xattrs.items()
    }
    return Raw(ti, data)


def rich_layers() -> list[Layer]:
    """Every kind of change layerscope tells apart, over five layers."""
    return [
        Layer(
            Dir("etc"),
            File("etc/motd", b"hello\n", mtime=5),
            File("etc/big", b"B" * 5000),
            Dir("opt"),
            Dir("opt/app"),
            File("opt/app/one", b"1" * 300),
            File("opt/app/two", b"2" * 400),
            Dir("var/cache", mode=0o700),
            File("var/cache/a", b"a" * 700),
            File("var/cache/b", b"b" * 800),
            File("bin/tool", b"\x7fELF" + b"t" * 100, mode=0o755),
            Symlink("bin/sh", "tool"),
            File("data/keep", b"k" * 50, uid=1000, gid=1000),
            File("gone/x", b"x" * 10),
            compression="gzip",
            created_by="base",
        ),
        Layer(
            File("etc/motd", b"changed\n", mtime=6),  # modified
            File("etc/big", b"B" * 5000),  # rewritten, same bytes: pure waste
            File("data/keep", b"k" * 50, mode=0o600, uid=1000, gid=1000),  # metadata only
            Hardlink("bin/tool2", "bin/tool"),
            File("data/orig", b"O" * 900),
            Hardlink("data/link1", "data/orig"),
            Hardlink("data/link2", "data/orig"),
            _xattr_file("etc/caps", b"cap", security_capability=b"\x01\x00\xff", user_x=b"v"),
            Device("dev/null", "char", 1, 3),
            Device("dev/fifo", "fifo"),
            created_by="app 1",
        ),
        Layer(
            Whiteout("var/cache/a"),
            Whiteout("var/cache/b"),
            Whiteout("gone"),
            Whiteout("data/orig"),  # its hardlinks keep its bytes
            File("etc/new", b"n" * 60, mtime=99),
            File("big.tmp", b"T" * 20_000),
            compression="zstd",
            created_by="app 2",
        ),
        Layer(
            Opaque("opt/app"),
            File("opt/app/three", b"3" * 30),
            Whiteout("big.tmp"),
            Symlink("bin/sh", "busybox"),  # symlink retargeted
            Dir("var/cache", mode=0o755),  # directory metadata changed
            created_by="app 3",
        ),
        Layer(File("etc/motd", b"hello\n", mtime=5), File("srv/x", b"x"), created_by="app 4"),
    ]


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    path = docker_archive(tmp_path_factory.mktemp("rich") / "rich.tar",
                          [Img(rich_layers(), tag="app:1")])  # fmt: skip
    arch = layerscope.open(str(path))
    yield arch.images[0]
    arch.close()


@pytest.mark.parametrize("keep", range(5))
@pytest.mark.parametrize(
    ("fmt", "comp"), [("docker-archive", "none"), ("oci-archive", "gzip"), ("oci-dir", "zstd")]
)
def test_slim_keeps_the_final_filesystem(rich, tmp_path, keep, fmt, comp):
    slim_and_check(rich, keep, tmp_path / "out", fmt, comp)


def test_the_rich_image_has_waste_to_remove(rich):
    # not a test that cannot fail: the archive must hold what the invariants are about
    p = plan(rich, 1)
    assert p.saved > 20_000 and p.whiteouts + p.opaques >= 2
    # big.tmp and the motd layer 1 wrote go; layer 0's etc/big and etc/motd are no longer
    # hidden (layers 1 and 4 wrote them again as they were: not written)
    assert rich.reclaimable_bytes - p.reclaimable_after == 20_000 + 8 + 5000 + 6
    assert p.reclaimable_after == 700 + 800 + 10 + 300 + 400 + 50
    assert p.counts.get("hardlinks") == 2  # bin/tool2, and one of data/link1, data/link2
    assert options(rich)[1].saved == p.saved


def test_options_are_the_plans(rich):
    for o in options(rich):
        p = plan(rich, o.keep)
        assert (o.saved, o.squashed_bytes) == (p.saved, p.squashed_size)
        assert o.kept_bytes == sum(ly.size for ly in rich.layers[: o.keep])


def test_opaque_where_shorter(tmp_path):
    """Many paths removed under a directory whose final entries are all new: one marker."""
    base = Layer(Dir("d"), *[File(f"d/f{i}", b"x" * i) for i in range(1, 9)], File("keep", b"k"))
    top = Layer(*[Whiteout(f"d/f{i}") for i in range(1, 9)], File("d/new", b"n"))
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([base, top])]))
    p = plan(img, 1)
    assert (p.opaques, p.whiteouts) == (1, 0)
    slim_and_check(img, 1, tmp_path / "o.tar")


def test_unchanged_rewrites_are_not_written(tmp_path):
    base = Layer(Dir("etc"), File("etc/a", b"same", mtime=3), File("etc/b", b"old"))
    top = Layer(Dir("etc"), File("etc/a", b"same", mtime=3), File("etc/b", b"new"))
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([base, top])]))
    p = plan(img, 1)
    assert [m.path for m in p.members] == ["etc/b"]
    assert p.saved == 4 and p.reclaimable_after == 3  # the copy of etc/a; the old etc/b stays
    slim_and_check(img, 1, tmp_path / "o.tar")


def test_an_implied_directory_left_empty_is_written(tmp_path):
    img = open_image(docker_archive(tmp_path / "a.tar", [
        Img([Layer(File("a/b/c", b"c")), Layer(Whiteout("a/b/c"))])]))  # fmt: skip
    p = plan(img, 0)
    assert [(m.path, m.ref) for m in p.members] == [("a/b", None)]
    slim_and_check(img, 0, tmp_path / "o.tar")


def test_history_and_config(rich, tmp_path):
    p = plan(rich, 2)
    out = tmp_path / "o.tar"
    imagefiles.write_image(rich, p, str(out))
    with tarfile.open(out) as tf:
        names = tf.getnames()
        manifest = json.load(tf.extractfile("manifest.json"))
        config = json.load(tf.extractfile(manifest[0]["Config"]))
        repos = json.load(tf.extractfile("repositories"))
    assert "repositories" in names and len(manifest[0]["Layers"]) == 3
    assert manifest[0]["RepoTags"] == []  # no --tag, a source named app:1 -> given by the CLI
    assert repos == {}
    hist = config["history"]
    assert [h.get("empty_layer", False) for h in hist] == [False, False, True, True, True, False]
    assert hist[-1]["created_by"] == "layerscope slim: layers 2-4 squashed into one"
    assert config["config"] == rich.config.raw["config"]  # env, cmd... unchanged
    assert {k: v for k, v in config.items() if k not in ("rootfs", "history")} == {
        k: v for k, v in rich.config.raw.items() if k not in ("rootfs", "history")
    }
    assert config["rootfs"]["diff_ids"][:2] == [ly.diff_id for ly in rich.layers[:2]]


def test_default_keep_from_history(tmp_path):
    layers = [Layer(File(f"f{i}", b"x"), created_by=f"s{i}") for i in range(4)]
    hist = [
        {"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
        {"created_by": "/bin/sh -c apt-get install x"},
        {"created_by": '/bin/sh -c #(nop)  CMD ["bash"]', "empty_layer": True},
        {"created_by": "COPY . /app # buildkit", "comment": "buildkit.dockerfile.v0"},
        {"created_by": "RUN make # buildkit", "comment": "buildkit.dockerfile.v0"},
    ]
    img = open_image(docker_archive(tmp_path / "a.tar", [Img(layers, history=hist)]))
    assert default_keep(img) == 2
    hist2 = [h for h in hist if "CMD" not in h["created_by"]]
    img2 = open_image(docker_archive(tmp_path / "b.tar", [Img(layers, history=hist2)]))
    assert default_keep(img2) == 2  # the first BuildKit step
    img3 = open_image(docker_archive(tmp_path / "c.tar", [Img(layers)]))
    assert default_keep(img3) == 1


# -- the command ---------------------------------------------------------------------------


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["slim", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_prints_every_keep_and_writes_nothing(rich, tmp_path, capsys):
    src = rich.source
    code, out, err = _run(capsys, src, "--dry-run", "--keep", "1", "--no-cache")
    assert code == 0, err
    for o in options(rich):
        assert f"{o.saved:,} B" in out
    p = plan(rich, 1)
    assert f"{p.size_before:,} B -> {p.size_after:,} B: {p.saved:,} B saved" in out
    assert os.listdir(tmp_path) == []


def test_announced_blob_bytes_are_written(rich, tmp_path, capsys):
    out_path = tmp_path / "o.tar"
    code, out, err = _run(capsys, rich.source, "--keep", "1", "--to", str(out_path), "--no-cache")
    assert code == 0, err
    announced = [ln for ln in out.splitlines() if ln.strip().startswith("layer blobs:")]
    total = int(announced[0].rsplit("=", 1)[1].strip().rstrip(" B").replace(",", ""))
    img = open_image(out_path)
    assert img.stored_size == total
    assert f"layer blobs: {total:,} B" in out
    assert img.refs == ["app:1-slim"]


def test_an_existing_output_is_kept_without_force(rich, tmp_path, capsys):
    out_path = tmp_path / "o.tar"
    out_path.write_bytes(b"mine")
    code, _out, err = _run(capsys, rich.source, "--to", str(out_path))
    assert code == 2 and "exists (--force replaces it)" in err and err.count("\n") == 1
    assert out_path.read_bytes() == b"mine"
    code, _out, err = _run(capsys, rich.source, "--to", str(out_path), "--force")
    assert code == 0, err
    assert open_image(out_path).layers[0].diff_id == rich.layers[0].diff_id


def test_a_fifo_or_directory_is_never_replaced(rich, tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, out, err = _run(capsys, rich.source, "--to", str(fifo), "--force")
    assert code == 2 and "not a regular file: not replaced" in err
    assert out == ""  # refused before any plan is worked out or printed
    d = tmp_path / "d"
    d.mkdir()
    code, _out, err = _run(capsys, rich.source, "--to", str(d), "--force")
    assert code == 2 and "is a directory: not replaced" in err
    code, _out, err = _run(capsys, rich.source, "--to", str(fifo), "--force", "--format", "oci-dir")
    assert code == 2 and "not a directory: not replaced" in err
    assert sorted(os.listdir(tmp_path)) == ["d", "fifo"]


def test_bad_input_is_one_line(tmp_path, capsys):
    code, _out, err = _run(capsys, str(tmp_path / "missing.tar"), "--to", str(tmp_path / "o"))
    assert (
        code == 2 and err == f"layerscope: {tmp_path / 'missing.tar'}: no such file or directory\n"
    )
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tar at all" * 100)
    code, _out, err = _run(capsys, str(bad), "--to", str(tmp_path / "o"))
    assert code == 2 and err.startswith(f"layerscope: {bad}: ") and err.count("\n") == 1
    code, _out, err = _run(capsys, "--demo", "--keep", "9", "--dry-run")
    assert code == 2 and "--keep 9: the image has 5 layers" in err
    code, _out, err = _run(capsys, "--demo", "--tag", "Not A Name", "--dry-run")
    assert code == 2 and "--tag Not A Name: not an image name" in err
    assert sorted(os.listdir(tmp_path)) == ["bad.tar"]


def test_an_interrupt_leaves_nothing(rich, tmp_path):
    p = plan(rich, 1)

    def stop(done: int, total: int) -> None:
        if done:
            raise KeyboardInterrupt

    for fmt in imagefiles.FORMATS:
        with pytest.raises(KeyboardInterrupt):
            imagefiles.write_image(rich, p, str(tmp_path / "o"), fmt=fmt, progress=stop)
        assert os.listdir(tmp_path) == []


def test_layerscope_image_tar_still_opens_as_before(tmp_path, capsys):
    """`slim` is a word only in first place: an archive named on its own still opens."""
    code = main([str(tmp_path / "slim"), "--json", "-"])
    _out, err = capsys.readouterr()
    assert code == 2 and "slim: no such file or directory" in err


def test_tar_headers_are_what_tarfile_writes():
    """The squashed layer's headers made directly (the common case) are byte for byte
    tarfile's; the rest are tarfile's own (PAX where a field needs one)."""
    rng = random.Random(3)
    li = LayerIndex.empty()
    for _ in range(1000):
        t = rng.choice([FILE, DIR, SYMLINK, HARDLINK, FIFO])
        name = "".join(rng.choice("abc/._-é") for _ in range(rng.choice([1, 50, 99, 100, 101])))
        link = "x" * rng.choice([0, 99, 100, 101]) if t in (SYMLINK, HARDLINK) else None
        size = rng.choice([0, 1, 511, 8**11 - 1, 8**11]) if t == FILE else 0
        li.add(name, t, 0, size, rng.choice([0o644, 0o4755, 0o100644]),
               rng.choice([0, 1000, 8**7 - 1, 8**7]), 0,
               rng.choice([0, 1_700_000_000, 8**11 - 1, -1]), 0, link=link)  # fmt: skip
    fast = 0
    for row in range(len(li)):
        ti = tarfile.TarInfo(li.paths[row] + ("/" if li.types[row] == DIR else ""))
        ti.type = layertar._TAR_TYPES[li.types[row]]
        ti.mode, ti.uid, ti.gid = li.modes[row], li.uids[row], li.gids[row]
        ti.mtime, ti.size = li.mtimes[row], li.sizes[row]
        ti.linkname, ti.uname, ti.gname = li.links.get(row) or "", "", ""
        want = ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        assert layertar.header(li, row) == want
        assert layertar.header_size(li, row) == len(want)
        fast += layertar._fast_header(li, row) is not None
    assert 30 < fast < len(li)


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_a_sparse_file_is_written_whole(tmp_path, compression):
    """Its holes as zeros (the content digest layerscope computed), read a piece at a time."""
    tar = raw_tar(
        pax_sparse_member(b"data/sparse", 5 << 20, [(4096, b"head"), (3 << 20, b"middle")]),
        tar_header(b"data/after", size=5) + padded(b"after"),
    )
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([
        Layer(File("base", b"b")), Layer(tar=tar, compression=compression)])]))  # fmt: skip
    assert img.layers[1].index.flags[0] & F_SPARSE
    slim_and_check(img, 1, tmp_path / "o.tar")
    slim_and_check(img, 0, tmp_path / "o2", "oci-dir", "zstd")


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_writing_leaves_nothing(tmp_path, sig, status):
    """A real process, stopped while it writes (a 300 MB sparse file makes the writing last):
    the temporary file is gone, nothing named OUT appears."""
    tar = raw_tar(pax_sparse_member(b"big", 300 << 20, [(0, b"x")]))
    archive = docker_archive(tmp_path / "a.tar", [Img([Layer(File("f", b"f")), Layer(tar=tar)])])
    dest = tmp_path / "out"
    dest.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerscope", "slim", str(archive), "--to", str(dest / "o.tar"),
         "--keep", "1", "--no-cache"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(".o.tar.layerscope-tmp-") for p in dest.iterdir()):
            assert proc.poll() is None, "it ended before it was stopped"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == status, err
    assert list(dest.iterdir()) == []


REAL = Path(__file__).parent / "fixtures" / "real"


@pytest.mark.parametrize(
    "name", ["docker-archive.tar", "oci-archive.tar", "zstd.tar", "umoci.tar", "merged-usr.tar",
             "symlink-to-dir.tar", "multi.tar"],
)  # fmt: skip
@pytest.mark.parametrize("apply", ["overlay", "follow"])
def test_real_images_at_every_keep(tmp_path, name, apply):
    """The images podman, skopeo and umoci made (tests/fixtures/real), slimmed from every
    layer, into each format, their layers applied either way (README: How layers are applied)."""
    with layerscope.open(str(REAL / name), apply=apply) as arch:
        for img in arch.images:
            for keep in range(len(img.layers)):
                fmt = imagefiles.FORMATS[keep % 3]
                out = tmp_path / f"{img.number}-{keep}"
                slim_and_check(img, keep, out, fmt, "none" if fmt == "docker-archive" else "gzip")
