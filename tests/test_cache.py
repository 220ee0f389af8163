"""The cache of layer indexes: hits skip reading, damage is ignored, size is bounded."""

from __future__ import annotations

import subprocess
import sys

import pytest
from builder import File, Img, Layer, docker_archive

import layerscope
from layerscope.model import archive as archive_mod

IMG = Img([Layer(File("a", b"x" * 100), File("b/c", b"y" * 50)), Layer(File("a", b"z"))])


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(d))
    return d


def figures(img):
    return img.size, img.final_size, img.reclaimable_bytes, [ly.changes for ly in img.layers]


def test_reopen_reads_no_layer(tmp_path, cache_dir, monkeypatch):
    path = str(docker_archive(tmp_path / "a.tar", [IMG]))
    with layerscope.open(path, cache=True) as a:
        first = figures(a.images[0])
    assert len(list(cache_dir.glob("*/*.idx"))) == 2

    def fail(*args, **kw):
        raise AssertionError("a layer was read despite the cache")

    monkeypatch.setattr(archive_mod, "read_layer", fail)
    with layerscope.open(path, cache=True) as a:
        assert figures(a.images[0]) == first
    with pytest.raises(AssertionError):
        layerscope.open(path, cache=False)


def test_damaged_entries_are_ignored_and_removed(tmp_path, cache_dir, monkeypatch):
    path = str(docker_archive(tmp_path / "a.tar", [IMG]))
    layerscope.open(path, cache=True).close()
    entries = sorted(cache_dir.glob("*/*.idx"))
    entries[0].write_bytes(entries[0].read_bytes()[:-3] + b"!!!")
    entries[1].write_bytes(b"garbage")
    with layerscope.open(path, cache=True) as a:
        assert a.images[0].final_size == 51
    # both were re-read and written again, whole
    monkeypatch.setattr(archive_mod, "read_layer", no_read)
    with layerscope.open(path, cache=True) as a:
        assert a.images[0].final_size == 51


def no_read(*args, **kw):
    raise AssertionError("a layer was read despite the cache")


def test_a_changed_blob_is_a_miss(tmp_path, cache_dir):
    a = str(docker_archive(tmp_path / "a.tar", [IMG]))
    b = str(docker_archive(tmp_path / "b.tar", [Img([Layer(File("a", b"q" * 100))])]))
    layerscope.open(a, cache=True).close()
    with layerscope.open(b, cache=True) as arch:
        assert arch.images[0].final_size == 100


def test_size_is_bounded(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("LAYERSCOPE_CACHE_MAX", "1")
    path = str(docker_archive(tmp_path / "a.tar", [IMG]))
    layerscope.open(path, cache=True).close()
    assert list(cache_dir.glob("*/*.idx")) == []
    assert not list(cache_dir.glob("*/.tmp-*"))  # an entry found too big as it is written goes


def test_no_cache_flag_writes_nothing(tmp_path, cache_dir):
    path = str(docker_archive(tmp_path / "a.tar", [IMG]))
    cmd = [sys.executable, "-m", "layerscope", path, "--json", str(tmp_path / "r.json")]
    subprocess.run([*cmd, "--no-cache"], check=True, env=_env(cache_dir))
    assert not cache_dir.exists()
    subprocess.run(cmd, check=True, env=_env(cache_dir))
    assert len(list(cache_dir.glob("*/*.idx"))) == 2


def test_concurrent_runs_share_the_cache(tmp_path, cache_dir):
    path = str(docker_archive(tmp_path / "a.tar", [IMG]))
    cmd = [sys.executable, "-m", "layerscope", path, "--json", "-", "--no-files"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, env=_env(cache_dir)) for _ in range(4)]
    outs = [p.communicate()[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1
    assert not list(cache_dir.glob("*/.tmp-*"))


def _env(cache_dir):
    import os

    return {**os.environ, "LAYERSCOPE_CACHE_DIR": str(cache_dir)}
