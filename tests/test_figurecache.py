"""An image's figures and analysis in the cache: a re-open computes nothing, and gets the very
same figures and analysis; damaged entries are ignored; a blob read here is trusted on re-open."""

from __future__ import annotations

import io
import marshal
import shutil

import pytest
from builder import Dir, File, Hardlink, Img, Layer, Symlink, Whiteout, docker_archive

import layerscope
from layerscope.errors import LayerscopeError
from layerscope.limits import DEFAULT_LIMITS
from layerscope.model import cache as cache_mod
from layerscope.model import image as image_mod
from layerscope.output.report import write_report

IMG = Img(
    [
        Layer(
            Dir("etc"),
            File("etc/a", b"x" * 100),
            File("etc/dup1", b"same" * 10),
            File("etc/dup2", b"same" * 10),
            File("lib/big", b"b" * 500),
            Hardlink("lib/big-link", "lib/big"),
            Symlink("usr", "lib"),
        ),
        Layer(File("etc/a", b"y" * 80), Whiteout("lib/big"), File("usr/via-link", b"z")),
        Layer(Dir("srv"), File("srv/s", b"q" * 7)),
    ]
)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(d))
    return d


def report(archive) -> str:
    out = io.StringIO()
    write_report(out, archive.images, files=False)
    return out.getvalue()


def analysis_fields(a) -> tuple:
    return (
        [bytes(s) for s in a.status],
        [list(h) for h in a.hidden_by],
        [bytes(h) for h in a.how],
        a.removed,
        list(a.final.items()),
        a.real_paths,
        a.hardlink_targets,
        a.kept,
        a.below,
    )


def no_analysis(*args, **kw):
    raise AssertionError("the analysis was computed despite the cache")


def test_a_reopen_has_the_same_figures_and_computes_nothing(tmp_path, cache_dir, monkeypatch):
    path = str(docker_archive(tmp_path / "a.tar", [IMG]))
    with layerscope.open(path, cache=True) as a:
        first = report(a)
        a.remember(a.images[0])
    assert len(list(cache_dir.glob("*/*.fig"))) == 1
    monkeypatch.setattr(image_mod, "analyse", no_analysis)
    monkeypatch.setattr(image_mod, "dive_figures", no_analysis)
    with layerscope.open(path, cache=True) as a:
        assert report(a) == first
        assert "analysis" not in a.images[0].__dict__


def test_the_analysis_comes_back_whole(tmp_path, cache_dir, monkeypatch):
    path = str(docker_archive(tmp_path / "a.tar", [IMG]))
    with layerscope.open(path, cache=True) as a:
        computed = analysis_fields(a.images[0].analysis)
        a.remember(a.images[0], analysis=True)
    monkeypatch.setattr(image_mod, "analyse", no_analysis)
    with layerscope.open(path, cache=True) as a:
        restored = a.images[0].analysis
        assert analysis_fields(restored) == computed
        # the final filesystem's paths are the index's own strings, not copies
        li = a.images[0].layers[0].data
        row = li.paths.index("etc/dup1")
        assert next(p for p in restored.final if p == "etc/dup1") is li.paths[row]


def test_figures_are_stored_only_once_all_are_computed(tmp_path, cache_dir):
    path = str(docker_archive(tmp_path / "a.tar", [IMG]))
    with layerscope.open(path, cache=True) as a:
        img = a.images[0]
        _ = img.final_size
        a.remember(img)
        assert not list(cache_dir.glob("*/*.fig"))
        report(a)
        a.remember(img)
        assert len(list(cache_dir.glob("*/*.fig"))) == 1


@pytest.mark.parametrize("kind", ["fig", "ana"])
def test_damaged_entries_are_recomputed_and_removed(tmp_path, cache_dir, kind):
    path = str(docker_archive(tmp_path / "a.tar", [IMG]))
    with layerscope.open(path, cache=True) as a:
        first = report(a), analysis_fields(a.images[0].analysis)
        a.remember(a.images[0], analysis=True)
    (entry,) = cache_dir.glob(f"*/*.{kind}")
    data = bytearray(entry.read_bytes())
    data[-1] ^= 0xFF
    entry.write_bytes(bytes(data))
    with layerscope.open(path, cache=True) as a:
        assert (report(a), analysis_fields(a.images[0].analysis)) == first
    assert not entry.exists()


def test_a_well_formed_entry_of_another_shape_is_a_miss(tmp_path, cache_dir):
    path = str(docker_archive(tmp_path / "a.tar", [IMG]))
    with layerscope.open(path, cache=True) as a:
        first = report(a), analysis_fields(a.images[0].analysis)
        a.remember(a.images[0], analysis=True)
        key = a.images[0].memo.key
    for kind in ("fig", "ana"):
        cache_mod.LayerCache(cache_dir).write(key, kind, marshal.dumps(("x", 1)))
        assert cache_mod.LayerCache(cache_dir).read(key, kind) is not None
    with layerscope.open(path, cache=True) as a:
        assert (report(a), analysis_fields(a.images[0].analysis)) == first


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("fig", lambda plain: plain["hidden"].update(kept=plain["hidden"].pop("kept_by_hardlink"))),
        ("fig", lambda plain: plain["layer_changes"].pop("removed")),
        ("fig", lambda plain: plain["dive"].update(extra=1)),
        ("ana", lambda plain: plain.update(kept_refs=plain.pop("kept"))),
    ],
)
def test_an_entry_is_read_by_field_names_and_refused_with_others(tmp_path, cache_dir, kind, change):
    path = str(docker_archive(tmp_path / "a.tar", [IMG]))
    with layerscope.open(path, cache=True) as a:
        first = report(a), analysis_fields(a.images[0].analysis)
        a.remember(a.images[0], analysis=True)
        key = a.images[0].memo.key
    cache = cache_mod.LayerCache(cache_dir)
    plain = marshal.loads(cache.read(key, kind))
    change(plain)
    cache.write(key, kind, marshal.dumps(plain))
    with layerscope.open(path, cache=True) as a:
        assert (report(a), analysis_fields(a.images[0].analysis)) == first
        assert not a.images[0].memo.holds(kind)


def test_the_symlink_limit_is_part_of_the_key(tmp_path, cache_dir):
    chain = Img([Layer(Symlink("a", "b"), Symlink("b", "c"), Dir("c"), File("a/f", b"1"))])
    path = str(docker_archive(tmp_path / "a.tar", [chain]))
    with layerscope.open(path, cache=True) as a:
        report(a)
        a.remember(a.images[0])
        deep = dict(a.images[0].analysis.final)
    tight = DEFAULT_LIMITS.__class__(**{**DEFAULT_LIMITS.__dict__, "max_symlink_hops": 1})
    with layerscope.open(path, cache=True, limits=tight) as a:
        assert dict(a.images[0].analysis.final) != deep


def test_a_blob_read_here_is_trusted_on_reopen_and_a_copy_is_hashed(
    tmp_path, cache_dir, monkeypatch
):
    path = docker_archive(tmp_path / "a.tar", [IMG])
    layerscope.open(str(path), cache=True).close()
    hashed = []
    real = cache_mod._blob_digest
    monkeypatch.setattr(cache_mod, "_blob_digest", lambda loc: hashed.append(loc) or real(loc))
    layerscope.open(str(path), cache=True).close()
    assert hashed == []
    copy = shutil.copy(path, tmp_path / "b.tar")
    layerscope.open(str(copy), cache=True).close()
    assert len(hashed) == 3
    layerscope.open(str(copy), cache=True).close()  # the copy is remembered once hashed
    layerscope.open(str(path), cache=True).close()  # and the file read first still is
    assert len(hashed) == 3


def test_a_tampered_copy_is_not_trusted(tmp_path, cache_dir):
    path = docker_archive(tmp_path / "a.tar", [IMG])
    layerscope.open(str(path), cache=True).close()
    data = bytearray(path.read_bytes())
    at = data.index(b"x" * 100)  # inside a layer blob: same size, other bytes
    data[at : at + 100] = b"w" * 100
    bad = tmp_path / "b.tar"
    bad.write_bytes(bytes(data))
    with pytest.raises(LayerscopeError, match=r"digest|diff_id"):
        layerscope.open(str(bad), cache=True)
