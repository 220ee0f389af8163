"""The cache against whoever can write to it (issue 11): an entry copied onto another key, a FIFO
or a link planted as an entry, a cache directory others can write or another user owns, a real
second user planting figures; trimming that deletes only layerscope's own files and counts the
leftovers of killed writes; an archive rewritten in place; and writes that never scan the cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from builder import File, Img, Layer, docker_archive

import layerscope
from layerscope import cli
from layerscope.errors import LayerscopeError
from layerscope.model import cache as cache_mod
from layerscope.model.cache import LayerCache, layer_key
from layerscope.output.report import write_report

PASSING = Img([Layer(File("a", b"a" * 4000)), Layer(File("b", b"b" * 4000))])
FAILING = Img([Layer(File("a", b"c" * 4000)), Layer(File("a", b"d" * 4000))])  # half is waste
NOBODY = 65534
AS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not AS_ROOT and os.environ.get("CI") != "true", reason="needs root (to chown, to setuid)"
)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(d))
    monkeypatch.chdir(tmp_path)  # no .dive-ci of the repository's
    return d


def ci(path: Path, capsys, *more: str) -> tuple[int, str, str]:
    """`layerscope PATH --ci`, in process: (status, stdout, stderr)."""
    status = cli.main([str(path), "--ci", *more])
    out = capsys.readouterr()
    return status, out.out, out.err


def with_figures(path: Path, capsys) -> int:
    """A run that stores the image's figures (`--json` computes them all)."""
    return ci(path, capsys, "--json", f"{path}.report.json")[0]


def cli_run(path: Path, cache: Path, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "layerscope", str(path), "--json", "-", "--no-files"]
    env = {**os.environ, "LAYERSCOPE_CACHE_DIR": str(cache)}
    return subprocess.run(cmd, env=env, capture_output=True, timeout=timeout, **kw)


def paths_of(path: Path) -> list[str]:
    with layerscope.open(str(path), cache=True) as a:
        return sorted(p for ly in a.images[0].layers for p in ly.data.paths)


# -- an entry copied onto another key ------------------------------------------------------------


def test_figures_copied_onto_another_image_are_not_used(tmp_path, cache_dir, capsys):
    good = docker_archive(tmp_path / "good.tar", [PASSING])
    bad = docker_archive(tmp_path / "bad.tar", [FAILING])
    assert with_figures(good, capsys) == 0
    (good_fig,) = cache_dir.glob("*/*.fig")
    assert with_figures(bad, capsys) == 1
    (bad_fig,) = set(cache_dir.glob("*/*.fig")) - {good_fig}
    shutil.copyfile(good_fig, bad_fig)  # the attack: the passing image's figures on the other
    status, out, _err = ci(bad, capsys)
    assert status == 1, out
    assert "FAIL  lowestEfficiency: efficiency 50.00 %" in out
    assert not bad_fig.exists()  # refused, and removed


def test_an_index_copied_onto_another_layer_is_not_used(tmp_path, cache_dir):
    a = docker_archive(tmp_path / "a.tar", [Img([Layer(File("from-a", b"1" * 100))])])
    b = docker_archive(tmp_path / "b.tar", [Img([Layer(File("from-b", b"2" * 100))])])
    assert paths_of(a) == ["from-a"]
    (a_idx,) = cache_dir.glob("*/*.idx")
    assert paths_of(b) == ["from-b"]
    (b_idx,) = set(cache_dir.glob("*/*.idx")) - {a_idx}
    shutil.copyfile(a_idx, b_idx)
    assert paths_of(b) == ["from-b"]
    assert paths_of(b) == ["from-b"]  # and what was stored again is b's


def test_an_index_must_say_the_diff_id_it_is_asked_for(tmp_path, cache_dir):
    # an entry rightly keyed whose index is another layer's (the same size): refused, removed
    a = docker_archive(tmp_path / "a.tar", [Img([Layer(File("from-a", b"1" * 100))])])
    b = docker_archive(tmp_path / "b.tar", [Img([Layer(File("from-b", b"2" * 100))])])
    with layerscope.open(str(a)) as arch_a, layerscope.open(str(b)) as arch_b:
        la, lb = arch_a.images[0].layers[0], arch_b.images[0].layers[0]
        assert la.spec.location.size == lb.spec.location.size
        key = layer_key(lb.spec.location, lb.spec.diff_id, lb.spec.digest, True)
        cache = LayerCache(cache_dir)
        cache.put(key, lb.data)
        assert cache.get(key).paths == ["from-b"]
        cache.put(key, la.data)
        assert cache.get(key) is None
    assert list(cache_dir.glob("*/*.idx")) == []


# -- what is planted as an entry -----------------------------------------------------------------


def test_a_fifo_planted_as_an_entry_does_not_hang(tmp_path, cache_dir):
    path = docker_archive(tmp_path / "a.tar", [PASSING])
    first = cli_run(path, cache_dir)
    assert first.returncode == 0
    entry = sorted(cache_dir.glob("*/*.idx"))[0]
    entry.unlink()
    os.mkfifo(entry)
    started = time.monotonic()
    again = cli_run(path, cache_dir, timeout=20)  # today's code waits for a writer forever
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert time.monotonic() - started < 10
    assert entry.is_file() and not entry.is_symlink()  # removed, and the index stored again


def test_a_link_to_dev_zero_planted_as_an_entry_is_ignored(tmp_path, cache_dir):
    path = docker_archive(tmp_path / "a.tar", [PASSING])
    first = cli_run(path, cache_dir)
    assert first.returncode == 0
    for entry in cache_dir.glob("*/*.idx"):
        entry.unlink()
        entry.symlink_to("/dev/zero")

    def bounded() -> None:  # a run that reads /dev/zero stops at 1 GiB, not at the machine's
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    started = time.monotonic()
    again = cli_run(path, cache_dir, timeout=20, preexec_fn=bounded)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert time.monotonic() - started < 10
    assert all(not p.is_symlink() for p in cache_dir.glob("*/*.idx"))


def test_an_entry_over_the_bound_is_not_read(tmp_path, monkeypatch):
    cache = LayerCache(tmp_path / "cache")
    cache.write("key", "fig", b"x" * 10_000)
    assert cache.read("key", "fig") is not None
    monkeypatch.setenv("LAYERSCOPE_CACHE_MAX", "5000")
    assert cache.read("key", "fig") is None


# -- directories that are not the user's own -----------------------------------------------------


@pytest.mark.parametrize(
    ("where", "mode", "why"),
    [
        ("root", 0o777, "is writable by group and others (mode 0777"),
        ("root", 0o1777, "is writable by group and others (mode 1777"),
        ("root", 0o775, "is writable by its group (mode 0775"),
        ("subdirs", 0o757, "is writable by others (mode 0757"),
        ("subdirs", "symlink", "is a symbolic link"),
    ],
)
def test_a_cache_dir_others_can_write_is_refused(tmp_path, cache_dir, capsys, where, mode, why):
    path = docker_archive(tmp_path / "a.tar", [PASSING])
    cache_dir.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    if where == "root":
        cache_dir.chmod(mode)
    else:
        for n in range(256):
            sub = cache_dir / f"{n:02x}"
            if mode == "symlink":
                sub.symlink_to(elsewhere, target_is_directory=True)
            else:
                sub.mkdir()
                sub.chmod(mode)
    status, out, err = ci(path, capsys, "--json", f"{path}.report.json")
    assert status == 0 and "PASS: 1 image" in out
    assert err.count("\n") == 1, err
    assert err.startswith("layerscope: warning: cache directory ")
    assert why in err
    assert err.rstrip().endswith("not used, going on without the cache")
    assert not [p for p in cache_dir.rglob("*") if p.is_file()]
    assert not list(elsewhere.iterdir())


def test_the_refusal_is_said_before_anything_is_read(tmp_path, cache_dir, capsys):
    # as the app starts: said before its screen is up, where a line on stderr would be lost
    path = docker_archive(tmp_path / "a.tar", [PASSING])
    cache_dir.mkdir(mode=0o700)
    cache_dir.chmod(0o777)
    layerscope.discover(str(path), cache=True).close()
    err = capsys.readouterr().err
    assert "is writable by group and others" in err and err.count("\n") == 1


@needs_root
@pytest.mark.parametrize("where", ["root", "subdir"])
def test_a_cache_dir_another_user_owns_is_refused(tmp_path, cache_dir, capsys, where):
    path = docker_archive(tmp_path / "a.tar", [PASSING])
    assert with_figures(path, capsys) == 0
    capsys.readouterr()
    owned = cache_dir if where == "root" else next(cache_dir.glob("*/*.idx")).parent
    os.chown(owned, NOBODY, NOBODY)
    status, _out, err = ci(path, capsys)
    assert status == 0
    assert f"belongs to uid {NOBODY}, not to you (uid 0)" in err
    assert str(owned) in err and err.count("\n") == 1


def _become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _plant(root: Path, rel: Path, data: bytes) -> subprocess.CompletedProcess:
    """As another user (uid 65534): write `data` at `root/rel`."""
    script = 'mkdir -p "$1/$2" && cat > "$1/$2/$3"'
    args = ["/bin/sh", "-c", script, "sh", str(root), str(rel.parent), rel.name]
    return subprocess.run(
        args, input=data, preexec_fn=_become_nobody, cwd="/", capture_output=True, timeout=20
    )


def _forged_figures(tmp_path: Path, good: Path, bad: Path, monkeypatch) -> tuple[Path, bytes]:
    """What another user can make: the passing image's figures, stored under the failing
    image's key with the cache's own code (its key is public: it comes from the image)."""
    keys, payload = [], None
    for path, d in ((good, "forge-a"), (bad, "forge-b")):
        monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(tmp_path / d))
        with layerscope.open(str(path), cache=True) as a:
            write_report(io.StringIO(), a.images, files=False)
            a.remember(a.images[0])
            keys.append(a.images[0].memo.key)
            payload = payload or bytes(LayerCache(tmp_path / d).read(keys[0], "fig"))
    forge = tmp_path / "forge-c"
    LayerCache(forge).write(keys[1], "fig", payload)
    (entry,) = forge.glob("*/*.fig")
    return entry.relative_to(forge), entry.read_bytes()


@needs_root
def test_another_user_cannot_plant_figures(tmp_path, cache_dir, capsys, monkeypatch):
    good = docker_archive(tmp_path / "good.tar", [PASSING])
    bad = docker_archive(tmp_path / "bad.tar", [FAILING])
    rel, forged = _forged_figures(tmp_path, good, bad, monkeypatch)
    # a shared cache directory, as a careless setup makes it: nobody plants there
    shared = Path(tempfile.mkdtemp(prefix="layerscope-shared-", dir="/tmp"))
    try:
        shared.chmod(0o777)
        planted = _plant(shared, rel, forged)
        assert planted.returncode == 0, planted.stderr
        assert (shared / rel).stat().st_uid == NOBODY
        monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(shared))
        status, out, err = ci(bad, capsys)
        assert status == 1, out
        assert "is writable by group and others" in err
        assert (shared / rel).read_bytes() == forged  # not used, not even touched
    finally:
        shutil.rmtree(shared)
    # a private one (as layerscope makes it): nobody cannot even write there
    monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(cache_dir))
    assert with_figures(bad, capsys) == 1
    assert _plant(cache_dir, rel, forged).returncode != 0
    assert ci(bad, capsys)[0] == 1


# -- trimming and the ledger ---------------------------------------------------------------------


def _own_entry(root: Path, seed: str, size: int, mtime: float, kind: str = "idx") -> Path:
    name = hashlib.sha256(seed.encode()).hexdigest()
    entry = root / name[:2] / f"{name}.{kind}"
    entry.parent.mkdir(mode=0o700, exist_ok=True)
    entry.write_bytes(b"o" * size)
    os.utime(entry, (mtime, mtime))
    return entry


def test_trimming_removes_only_layerscopes_own_files(tmp_path, cache_dir, monkeypatch):
    long_ago = time.time() - 365 * 86400
    cache_dir.mkdir(mode=0o700)
    (cache_dir / "ab").mkdir(mode=0o700)
    hexname = "ab" + "0" * 62
    user = [
        cache_dir / "ab" / "notes.txt",
        cache_dir / "ab" / "x.y",
        cache_dir / "ab" / f"{hexname}.idx.bak",
        cache_dir / "ab" / f"{hexname[:-1]}.idx",
        cache_dir / "ab" / ".tmp-mine",
        cache_dir / "notes.txt",
    ]
    for p in user:
        p.write_bytes(b"u" * 20_000)
        os.utime(p, (long_ago, long_ago))
    own = [_own_entry(cache_dir, str(n), 10_000, long_ago + n) for n in range(3)]
    monkeypatch.setenv("LAYERSCOPE_CACHE_MAX", "5000")
    path = docker_archive(tmp_path / "a.tar", [PASSING])
    layerscope.open(str(path), cache=True).close()
    assert all(p.exists() for p in user)
    assert not any(p.exists() for p in own)
    assert len(list(cache_dir.glob("*/*.idx"))) == 3  # the 2 written, and the user's look-alike


def test_leftovers_of_killed_writes_are_counted_then_removed(tmp_path):
    root = tmp_path / "cache"
    root.mkdir(mode=0o700)
    for sub in ("ab", "cd"):
        (root / sub).mkdir(mode=0o700)
    old = root / "ab" / ".tmp-old12345"
    young = root / "cd" / ".tmp-young123"
    old.write_bytes(b"t" * 3000)
    young.write_bytes(b"t" * 5000)
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    cache = LayerCache(root)
    cache.write("key", "fig", b"x" * 100)  # no ledger yet: one scan makes it
    (entry,) = root.glob("*/*.fig")
    assert not old.exists() and young.exists()
    assert int((root / cache_mod.LEDGER).read_text()) == entry.stat().st_size + 5000


def test_the_ledger_counts_every_write_and_forget(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    cache = LayerCache(root)
    for n in range(20):
        cache.write(f"key {n}", "fig", b"x" * (100 + n))
    cache.write("key 3", "fig", b"y" * 5000)  # replaced
    cache.forget("key 4", "fig")
    cache.forget("key 4", "fig")  # gone already: counted once
    on_disk = sum(p.stat().st_size for p in root.glob("*/*.fig"))
    assert int((root / cache_mod.LEDGER).read_text()) == on_disk
    monkeypatch.setenv("LAYERSCOPE_CACHE_MAX", str(on_disk))
    cache.write("one more", "fig", b"z" * 1000)  # over the bound: trimmed to LOW_WATER of it
    kept = sum(p.stat().st_size for p in root.glob("*/*.fig"))
    assert kept <= cache_mod.LOW_WATER * on_disk
    assert int((root / cache_mod.LEDGER).read_text()) == kept
    assert cache.read("one more", "fig") is not None  # the newest stays


def test_writes_do_not_scan_the_cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    root.mkdir(mode=0o700)
    for n in range(256):
        (root / f"{n:02x}").mkdir(mode=0o700)
    for n in range(5000):  # a big cache's entries (of layerscope's own names)
        name = hashlib.sha256(str(n).encode()).hexdigest()
        os.close(os.open(root / name[:2] / f"{name}.fig", os.O_CREAT | os.O_WRONLY, 0o600))
    scans = []
    real = os.scandir

    def counting(path=".", *args):
        if Path(path) == root:
            scans.append(path)
            assert len(scans) <= 1, "the cache was scanned again"
        return real(path, *args)

    cache = LayerCache(root)  # checks the directories there are: once a run
    monkeypatch.setattr(os, "scandir", counting)
    for n in range(1000):
        cache.write(f"key {n}", "fig", b"p" * 200)
    monkeypatch.undo()
    assert len(scans) == 1  # the ledger was missing: built once
    assert int((root / cache_mod.LEDGER).read_text()) == sum(
        p.stat().st_size for p in root.glob("*/*")
    )


# -- a rewritten archive -------------------------------------------------------------------------


def test_an_archive_rewritten_in_place_with_its_mtime_restored_is_read_again(tmp_path, cache_dir):
    path = docker_archive(tmp_path / "a.tar", [Img([Layer(File("f", b"x" * 100))])])
    layerscope.open(str(path), cache=True).close()
    before = os.stat(path)
    time.sleep(0.02)  # past the clock tick of the file's ctime
    with open(path, "r+b") as f:
        at = f.read().index(b"x" * 100)  # inside the layer blob: same size, other bytes
        f.seek(at)
        f.write(b"w" * 100)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    same = ("st_dev", "st_ino", "st_size", "st_mtime_ns")
    assert [getattr(after, n) for n in same] == [getattr(before, n) for n in same]
    with pytest.raises(LayerscopeError, match=r"digest|diff_id"):
        layerscope.open(str(path), cache=True)
