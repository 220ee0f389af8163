"""The slimmed image in a real engine: Debian's podman loads the written docker-archive and
oci-archive (in a private storage under the test's directory: the machine's is never touched),
extracts the same files as from the source image (both mounted, walked and compared), and
saves back an image whose layers are the ones written, whose final filesystem layerscope reads
as the source's.

Under CI=true a missing podman fails the test (.ci/run installs it); elsewhere it is skipped."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from slimcheck import assert_same_final

import layerscope
from layerscope.cli import demo_path
from layerscope.write.imagefiles import write_image
from layerscope.write.plan import default_keep, plan

IN_CI = os.environ.get("CI") == "true"
SOURCE = "localhost/layerscope-demo:1"


@pytest.fixture
def podman(tmp_path):
    """`podman ...` in a private storage (vfs: plain directories, extracted by podman's own
    code), removed afterwards."""
    exe = shutil.which("podman")
    if exe is None:
        message = "podman is not installed (apt-get install podman; .ci/run does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the podman test runs as root (CI does)")
        pytest.skip("the podman test runs as root")
    store = tmp_path / "storage"
    runroot = tempfile.mkdtemp(prefix="ls-podman-")  # podman wants under 50 characters
    base = [exe, "--root", str(store / "root"), "--runroot", runroot,
            "--storage-driver", "vfs", "--events-backend", "none",
            "--cgroup-manager", "cgroupfs"]  # fmt: skip

    def run(*args: str) -> str:
        done = subprocess.run([*base, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr}"
        return done.stdout

    yield run
    subprocess.run([*base, "image", "umount", "--all", "--force"], capture_output=True)
    subprocess.run([*base, "rmi", "--all", "--force"], capture_output=True)
    shutil.rmtree(store, ignore_errors=True)
    shutil.rmtree(runroot, ignore_errors=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The built-in sample as a plain docker-archive (podman loads no gzipped archive)."""
    plain = tmp_path_factory.mktemp("demo") / "demo.tar"
    plain.write_bytes(gzip.decompress(Path(demo_path()).read_bytes()))
    arch = layerscope.open(str(plain))
    yield plain, arch.images[0]
    arch.close()


def tree(root: str) -> dict[str, tuple]:
    """Every path under `root` as podman extracted it: type, mode, owner, size, mtime (not of
    directories: extraction sets them last, as it goes), link target, content digest, and
    which paths share an inode."""
    out: dict[str, tuple] = {}
    inodes: dict[int, list[str]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            link = os.readlink(path) if kind == stat.S_IFLNK else None
            digest = None
            if kind == stat.S_IFREG:
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, []).append(rel)
            mtime = None if kind == stat.S_IFDIR else int(st.st_mtime)
            size = st.st_size if kind == stat.S_IFREG else None
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, size, mtime,
                        link, digest)  # fmt: skip
    out["(hardlinks)"] = tuple(sorted(tuple(sorted(p)) for p in inodes.values()))
    return out


@pytest.mark.parametrize(("fmt", "compression"), [("docker-archive", "none"),
                                                  ("oci-archive", "gzip")])  # fmt: skip
def test_podman_loads_the_slimmed_image(podman, demo, tmp_path, fmt, compression):
    plain, img = demo
    keep = default_keep(img)
    p = plan(img, keep)
    assert p.saved > 0  # the sample has waste above its first layer
    out = tmp_path / f"slim-{fmt}.tar"
    tag = f"localhost/layerscope-demo:slim-{fmt}"
    written = write_image(img, p, str(out), fmt=fmt, compression=compression, tag=tag)
    podman("load", "-i", str(plain))
    assert tag in podman("load", "-i", str(out))
    layers = podman("image", "inspect", tag, "--format", "{{range .RootFS.Layers}}{{.}} {{end}}")
    assert layers.split() == [ly.diff_id for ly in img.layers[:keep]] + [
        written.squashed.diff_id  # type: ignore[union-attr]
    ]
    env = podman("image", "inspect", tag, "--format", "{{.Config.Env}}|{{.Config.Labels}}")
    assert env == podman(
        "image", "inspect", SOURCE, "--format", "{{.Config.Env}}|{{.Config.Labels}}"
    )
    # what podman extracted from each is the same, file for file
    source_root = podman("image", "mount", SOURCE).strip()
    slim_root = podman("image", "mount", tag).strip()
    want, got = tree(source_root), tree(slim_root)
    assert want.keys() == got.keys()
    assert want == got
    assert len(want) > 20
    # and what it saves back is the image written, whose final filesystem is the source's
    back = tmp_path / "back.tar"
    podman("save", "--format", "docker-archive", "-o", str(back), tag)
    with layerscope.open(str(back)) as arch:
        again = arch.images[0]
        assert [ly.diff_id for ly in again.layers] == layers.split()
        assert again.size == p.size_after and again.reclaimable_bytes == p.reclaimable_after
        assert_same_final(img, again)
