"""Export writes exactly where asked: hostile names, symlinked parents, existing files, a
destination reached through nobody else's symlink; and a removed or hidden entry as its layer
stored it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tarfile

import pytest
from builder import (
    Dir,
    File,
    Hardlink,
    Img,
    Layer,
    Raw,
    Symlink,
    Whiteout,
    docker_archive,
    oci_dir,
    open_image,
    padded,
    pax_member,
    raw_tar,
    tar_header,
)

from layerscope.insight.content import iter_entry
from layerscope.insight.export import ExportError, export, exported_as_of, hidden_by


def raw(name: str, data: bytes = b"") -> Raw:
    ti = tarfile.TarInfo(name)
    ti.mode = 0o644
    return Raw(ti, data)


def tree(root) -> list[str]:
    out = []
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(out)


def test_export_a_directory_as_of_a_layer(tmp_path):
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([
        Layer(Dir("etc"), File("etc/a", b"one", mode=0o4755), File("etc/b", b"bee")),
        Layer(File("etc/a", b"two"), Whiteout("etc/b"), Hardlink("etc/h", "etc/a")),
    ])]))  # fmt: skip
    dest = tmp_path / "out"
    r = export(img, "etc", 0, str(dest))
    assert tree(dest) == ["etc", "etc/a", "etc/b"]
    assert (dest / "etc/a").read_bytes() == b"one"
    assert (dest / "etc/a").stat().st_mode & 0o7777 == 0o755  # no setuid bit is ever written
    assert r.written == ["etc/", "etc/a", "etc/b"]
    dest2 = tmp_path / "out2"
    export(img, "etc", 1, str(dest2))
    assert tree(dest2) == ["etc", "etc/a", "etc/h"]
    assert (dest2 / "etc/h").read_bytes() == b"two"  # a hardlink is written as its content


def test_existing_files_are_kept_unless_overwrite(tmp_path):
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([Layer(File("f", b"new"))])]))
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "f").write_bytes(b"mine")
    r = export(img, "f", 0, str(dest))
    assert r.existing == ["f"] and (dest / "f").read_bytes() == b"mine"
    export(img, "f", 0, str(dest), overwrite=True)
    assert (dest / "f").read_bytes() == b"new"


def test_hostile_names_stay_inside_the_destination(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([Layer(
        raw("../../x", b"dotdot"), raw("/abs", b"absolute"), raw("a/../../../y", b"deep"),
        Symlink("escape", str(outside)), raw("escape/z", b"through a symlink"),
        Symlink("rel", "../../.."), raw("rel/w", b"relative"),
    )])]))  # fmt: skip
    dest = tmp_path / "out"
    export(img, "", 0, str(dest))
    assert tree(outside) == []
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    # `..` and `/` were resolved lexically inside the image; a symlinked parent was resolved
    # inside the image root, so its entries land under their real path in the destination
    names = tree(dest)
    assert {"x", "abs", "y", "escape", "rel"} <= set(names)
    assert os.readlink(dest / "escape") == str(outside)  # written as a link, never followed
    assert all(not os.path.islink(dest / n) or n in ("escape", "rel") for n in names)


def test_a_symlink_already_in_the_destination_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    img = open_image(
        docker_archive(tmp_path / "a.tar", [Img([Layer(Dir("etc"), File("etc/p", b"x"))])])
    )
    dest = tmp_path / "out"
    dest.mkdir()
    os.symlink(outside, dest / "etc")
    r = export(img, "etc", 0, str(dest))
    assert tree(outside) == []
    assert r.written == []
    assert r.skipped == [
        ("etc/", "etc in the destination is not a plain directory"),
        ("etc/p", "etc in the destination is not a plain directory"),
    ]


def test_export_from_the_command_line(tmp_path):
    path = docker_archive(
        tmp_path / "a.tar", [Img([Layer(File("a/b", b"hi")), Layer(Whiteout("a"))])]
    )
    dest = tmp_path / "out"
    cmd = [sys.executable, "-m", "layerscope", str(path), "--export", "a/b", "--to", str(dest)]
    out = subprocess.run([*cmd, "--layer", "0"], capture_output=True, text=True)
    assert out.returncode == 0 and (dest / "b").read_bytes() == b"hi"
    out = subprocess.run(cmd, capture_output=True, text=True)  # the last layer deleted it
    assert out.returncode == 2
    assert out.stderr == (
        "layerscope: a/b is not in the image as of layer 1: layer 1 removed it (--layer 0 has it)\n"
    )
    assert tree(dest) == ["b"]


# -- hard links -------------------------------------------------------------------------------


def inodes(root) -> dict[tuple[int, int], list[str]]:
    """Every regular file under root, grouped by inode."""
    out: dict[tuple[int, int], list[str]] = {}
    for name in tree(root):
        st = os.lstat(os.path.join(root, name))
        if stat.S_ISREG(st.st_mode):
            out.setdefault((st.st_dev, st.st_ino), []).append(name)
    return out


def test_a_thousand_hardlinks_are_written_once_and_linked(tmp_path):
    data = os.urandom(64 << 10)
    links = [Hardlink(f"l/{i:04}", "big") for i in range(1000)]
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([Layer(
        File("big", data, mode=0o755), Dir("l"), *links,
    )])]))  # fmt: skip
    dest = tmp_path / "out"
    r = export(img, "", 0, str(dest))
    groups = inodes(dest)
    assert len(groups) == 1  # one inode for the 1,001 names
    (names,) = groups.values()
    assert len(names) == 1001
    st = os.stat(dest / "big")
    assert st.st_nlink == 1001 and st.st_mode & 0o777 == 0o755
    assert st.st_blocks * 512 < 2 * len(data)  # the content is on disk once, not 1,001 times
    assert (dest / "l/0999").read_bytes() == data
    assert len(r.written) == 1 + 1 + 1000 and len(r.linked) == 1000
    assert r.linked[0] == ("l/0000", "big") and not r.skipped
    # written again over itself: still one inode, nothing left behind
    r = export(img, "", 0, str(dest), overwrite=True)
    assert len(inodes(dest)) == 1 and os.stat(dest / "l/0500").st_nlink == 1001
    assert not [n for n in tree(dest) if ".layerscope-tmp-" in n]


def test_hardlinks_to_a_file_outside_the_exported_directory_share_one_copy(tmp_path):
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([
        Layer(File("bin/git", b"git", mode=0o755), File("old", b"one"), Hardlink("keep", "old"),
              *[Hardlink(f"libexec/git-{c}", "bin/git") for c in "abc"]),
        Layer(File("old", b"two")),  # `keep` still holds the first content, as in a container
    ])]))  # fmt: skip
    dest = tmp_path / "out"
    r = export(img, "libexec", 1, str(dest))
    assert tree(dest) == ["libexec", "libexec/git-a", "libexec/git-b", "libexec/git-c"]
    assert os.stat(dest / "libexec/git-c").st_nlink == 3
    assert (dest / "libexec/git-b").read_bytes() == b"git"
    assert r.linked == [("libexec/git-b", "libexec/git-a"), ("libexec/git-c", "libexec/git-a")]
    # a single hard link exported on its own is its content
    export(img, "keep", 1, str(dest))
    assert (dest / "keep").read_bytes() == b"one" and os.stat(dest / "keep").st_nlink == 1


def test_a_hardlink_to_no_regular_file_is_skipped_not_written_empty(tmp_path):
    (tmp_path / "outside").write_bytes(b"not the image's")
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([Layer(
        File("f", b"file"), Symlink("s", "f"), Dir("d"),
        Hardlink("to-missing", "nope"), Hardlink("to-symlink", "s"), Hardlink("to-dir", "d"),
        Hardlink("to-outside", "../outside"), Hardlink("z", "f"),
    )])]))  # fmt: skip
    dest = tmp_path / "out"
    r = export(img, "", 0, str(dest))
    assert tree(dest) == ["d", "f", "s", "z"]  # no empty file for any of the four
    assert os.stat(dest / "z").st_nlink == 2 and (dest / "z").read_bytes() == b"file"
    assert sorted(r.skipped) == [
        ("to-dir", "a hard link to d, a dir: only regular files are linked"),
        ("to-missing", "a hard link to nope, which is not a file in the image"),
        ("to-outside", "a hard link to outside, which is not a file in the image"),
        ("to-symlink", "a hard link to s, a symlink: only regular files are linked"),
    ]
    assert not set(r.written) & {"to-dir", "to-missing", "to-outside", "to-symlink"}
    assert (tmp_path / "outside").stat().st_nlink == 1


# -- names the destination cannot hold ----------------------------------------------------------


def test_a_bad_name_is_skipped_and_the_rest_written(tmp_path):
    long = "x" * 256
    tar = raw_tar(
        *member(b"a", b"first"),
        pax_member({"path": f"d/{long}/child"}), *member(b"placeholder1", b"deep"),
        pax_member({"path": long}), *member(b"placeholder2", b"long"),
        pax_member({"path": "n\0ul"}), *member(b"placeholder3", b"nul"),
        *member(b"z", b"last"),
    )  # fmt: skip
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([Layer(tar=tar)])]))
    dest = tmp_path / "out"
    r = export(img, "", 0, str(dest))
    assert tree(dest) == ["a", "d", "z"]  # d: made on the way to d/xxx…
    assert (dest / "z").read_bytes() == b"last"
    assert r.written == ["a", "z"]
    why = dict(r.skipped)
    assert why == {
        long: "the destination refuses its name: File name too long",
        f"d/{long}/child": "the destination refuses its name: File name too long",
        "n\0ul": "its name has a NUL byte",
    }


def member(name: bytes, data: bytes) -> tuple[bytes, bytes]:
    return tar_header(name, size=len(data)), padded(data)


# -- never a partial file -------------------------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(path):
    """A 64 KiB tmpfs at `path` (root only), unmounted on leaving; None where it cannot be."""
    path.mkdir()
    mounted = (
        os.geteuid() == 0
        and shutil.which("mount") is not None
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield path if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=True)


def full_disk_export(archive, dest, limit: int | None) -> subprocess.CompletedProcess:
    """Export everything from the command line, the files it writes limited to `limit` bytes."""

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cmd = [sys.executable, "-m", "layerscope", str(archive), "--no-cache", "--export", "data"]
    return subprocess.run(
        [*cmd, "--to", str(dest)], capture_output=True, text=True,
        preexec_fn=limited if limit else None,
    )  # fmt: skip


@pytest.mark.parametrize("full", ["tmpfs", "file-size-limit"])
def test_a_full_disk_leaves_no_partial_file_and_a_rerun_writes_it(tmp_path, full):
    big = os.urandom(200 << 10)
    archive = docker_archive(tmp_path / "a.tar", [Img([Layer(
        File("data/a", b"small"), File("data/big", big), File("data/c", b"after"),
    )])])  # fmt: skip
    with small_tmpfs(tmp_path / "mnt") as mnt:
        if full == "tmpfs":
            if mnt is None:
                assert os.environ.get("CI") != "true", "cannot mount a tmpfs"
                pytest.skip("cannot mount a tmpfs (not root)")
            dest, limit = mnt / "out", None
        else:
            dest, limit = tmp_path / "out", 100 << 10
        out = full_disk_export(archive, dest, limit)
        assert out.returncode == 2, out.stderr
        assert out.stderr.startswith("layerscope: data/big: ")  # the error names the file
        assert "export stopped; 2 entries written before it" in out.stderr
        assert tree(dest) == ["data", "data/a"]  # no truncated data/big, no temporary file
        if mnt is not None and full == "tmpfs":
            subprocess.run(["mount", "-o", "remount,size=1m", str(mnt)], check=True)
        out = full_disk_export(archive, dest, None)
        assert out.returncode == 0, out.stderr
        assert (dest / "data/big").read_bytes() == big
        assert tree(dest) == ["data", "data/a", "data/big", "data/c"]


def test_a_read_error_leaves_no_partial_file(tmp_path):
    content = os.urandom(100 << 10)
    layout = oci_dir(tmp_path / "layout", [Img([Layer(File("f", content), File("g", b"g"))])],
                     compression=None)  # fmt: skip
    img = open_image(layout)
    blob = max((layout / "blobs/sha256").iterdir(), key=lambda p: p.stat().st_size)
    os.truncate(blob, 50 << 10)  # the layer now ends in the middle of f
    dest = tmp_path / "out"
    with pytest.raises(ExportError, match=r"^f: cannot read it from the archive: ") as e:
        export(img, "f", 0, str(dest))
    assert "export stopped" in str(e.value) and e.value.result is not None
    assert tree(dest) == []


# -- modes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("umask", "want"), [(0o022, (0o644, 0o755)), (0o077, (0o600, 0o700))])
def test_modes_are_written_with_the_users_umask(tmp_path, umask, want):
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([Layer(
        File("rw", b"", mode=0o666), File("rwx", b"", mode=0o6777),
    )])]))  # fmt: skip
    dest = tmp_path / "out"
    old = os.umask(umask)
    try:
        export(img, "", 0, str(dest))
    finally:
        os.umask(old)
    assert (os.stat(dest / "rw").st_mode & 0o7777, os.stat(dest / "rwx").st_mode & 0o7777) == want


# -- removed and hidden entries, as stored (issue 18) ------------------------------------------


SECRET = random.Random(18).randbytes(300_000)  # several chunks, compressed in its layer


def removing_image(tmp_path):
    """Layer 0 stores files (one twice), layer 1 deletes or replaces them."""
    return open_image(docker_archive(tmp_path / "a.tar", [Img([
        Layer(Dir("etc"), File("etc/key", SECRET, mode=0o600), File("etc/keep", b"k"),
              File("dup", b"first"), File("dup", b"second"), Dir("opt"), File("opt/tool", b"T"),
              File("imp/lied/x", b"no directory entries above me"), compression="gzip"),
        Layer(Whiteout("etc/key"), File("etc/keep", b"k2"), Whiteout("opt"), Whiteout("imp")),
    ])]))  # fmt: skip


def node_entry(img, layer: int, path: str, mode: str = "changes") -> tuple[int, int] | None:
    """The entry the tree shows at `path` (as the app passes it to the export dialog)."""
    from layerscope.model.analysis import unpack
    from layerscope.views.treeview import build_view

    view = build_view(img, layer, mode)
    node = view.find(path)
    assert node is not None, path
    ref = view.refs[node]
    return unpack(ref) if ref >= 0 else None


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("mode", ["changes", "image"])
def test_a_removed_file_is_exported_as_its_layer_stored_it(tmp_path, mode):
    img = removing_image(tmp_path)
    entry = node_entry(img, 1, "etc/key", mode)
    assert entry is not None and entry[0] == 0  # the tree shows layer 0's entry, removed
    assert exported_as_of(img, entry, 1) == 0
    r = export(img, "etc/key", 1, str(tmp_path / "out"), entry=entry)
    assert (r.written, r.as_of) == (["key"], 0)
    assert sha((tmp_path / "out/key").read_bytes()) == sha(SECRET)
    assert (tmp_path / "out/key").stat().st_mode & 0o777 == 0o600
    # the very bytes the archive stores for that entry (as the preview reads them)
    stored = b"".join(iter_entry(img, *entry))
    assert sha((tmp_path / "out/key").read_bytes()) == sha(stored)


def test_a_removed_directory_is_exported_as_of_the_layer_below(tmp_path):
    img = removing_image(tmp_path)
    r = export(img, "opt", 1, str(tmp_path / "out"), entry=node_entry(img, 1, "opt"))
    assert (r.written, r.as_of) == (["opt/", "opt/tool"], 0)
    assert (tmp_path / "out/opt/tool").read_bytes() == b"T"
    # a directory with no entry of its own (the tree's node is implied): removed_ok
    assert node_entry(img, 1, "imp") is None
    with pytest.raises(ExportError) as info:
        export(img, "imp", 1, str(tmp_path / "no"))
    assert str(info.value) == (
        "imp is not in the image as of layer 1: layer 1 removed it (--layer 0 has it)"
    )
    assert not (tmp_path / "no").exists()
    r = export(img, "imp", 1, str(tmp_path / "out2"), removed_ok=True)
    assert (r.written, r.as_of) == (["imp/", "imp/lied/x"], 0)  # imp/lied/: made on the way
    assert (tmp_path / "out2/imp/lied/x").read_bytes() == b"no directory entries above me"


def test_an_entry_hidden_in_its_own_layer_is_exported_not_its_successor(tmp_path):
    img = removing_image(tmp_path)
    li = img.layers[0].index
    first, second = ((0, row) for row in range(len(li)) if li.paths[row] == "dup")
    assert exported_as_of(img, first, 0) == 0 and hidden_by(img, first, 0) == 0
    assert hidden_by(img, second, 0) is None
    export(img, "dup", 0, str(tmp_path / "a"), entry=first)
    export(img, "dup", 0, str(tmp_path / "b"), entry=second)
    assert (tmp_path / "a/dup").read_bytes() == b"first"
    assert (tmp_path / "b/dup").read_bytes() == b"second"
    # a file a later layer overwrote is exported as its layer had it
    r = export(img, "etc/keep", 1, str(tmp_path / "c"), entry=node_entry(img, 0, "etc/keep"))
    assert (tmp_path / "c/keep").read_bytes() == b"k" and r.as_of == 0


# -- the destination -------------------------------------------------------------------------


def test_a_planted_symlink_on_the_way_to_the_destination_is_not_followed(tmp_path, monkeypatch):
    """A symlink someone else owns (planted in a shared directory such as /tmp) is refused,
    wherever it is on the way; the user's own (or root's) is followed."""
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([Layer(File("f", b"data"))])]))
    target = tmp_path / "target"
    target.mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    planted = shared / "out"
    os.symlink(target, planted)
    me = os.getuid()
    if me == 0:  # root may give the link to someone else
        os.lchown(planted, 4242, 4242)
        other = 4242
    else:  # the link is the user's: make the user someone else
        other = me
        monkeypatch.setattr(os, "getuid", lambda: me + 1)
    for dest in (planted, planted / "deeper", shared / "." / "out" / ".." / "out"):
        with pytest.raises(ExportError) as info:
            export(img, "f", 0, str(dest))
        assert str(info.value) == (
            f"{dest}: {planted} is a symlink of another user (uid {other}), not followed: name "
            "the directory it leads to"
        )
    assert tree(target) == []
    monkeypatch.undo()
    mine = tmp_path / "mine"
    os.symlink("target", mine)  # the user's own link, relative: followed
    export(img, "f", 0, str(mine / "sub"))
    assert (target / "sub/f").read_bytes() == b"data"
    # `..` is the parent of the directory reached, as the kernel resolves it
    export(img, "f", 0, str(mine / "sub" / ".." / "up"))
    assert (target / "up/f").read_bytes() == b"data"


def test_a_destination_that_is_a_file_or_a_loop(tmp_path):
    img = open_image(docker_archive(tmp_path / "a.tar", [Img([Layer(File("f", b"x"))])]))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match=r"file/d: .*/file is not a directory$"):
        export(img, "f", 0, str(tmp_path / "file" / "d"))
    os.symlink("loop", tmp_path / "loop")
    with pytest.raises(ExportError, match="too many symlinks on the way"):
        export(img, "f", 0, str(tmp_path / "loop"))


def test_the_default_destination_is_a_folder_of_its_own(tmp_path, monkeypatch):
    from layerscope.ui.dialogs.export import default_destination

    home = tmp_path / "home"
    home.mkdir()
    assert default_destination(str(home)) == str(home / "layerscope-export")
    (home / "Downloads").mkdir()
    assert default_destination(str(home)) == str(home / "Downloads" / "layerscope-export")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert default_destination() == str(home / "Downloads" / "layerscope-export")
