"""The UI's loader thread: every layer read (in worker processes for a big image, forked from the
fork server since the UI runs threads), a failed layer reported while the others go on, every
image analysed once its layers are read, every layer indexed for the file tree, and its
messages coalesced."""

from __future__ import annotations

import threading
import time
from itertools import pairwise
from types import SimpleNamespace

import pytest
from builder import Dir, File, Img, Layer, Whiteout, docker_archive, sha

import layerscope
from layerscope.model import archive as archive_mod
from layerscope.ui import loading
from layerscope.views import imagefacts, layertree
from layerscope.views.listing import Listing
from layerscope.views.treeview import build_view

A = Layer(File("a", b"A" * 5000), Dir("d"))
B = Layer(File("b", b"B"), Whiteout("a"), compression="gzip")
C = Layer(File("c", b"C" * 100), compression="zstd")


def run_loader(archive, first=None) -> list:
    """Run the loader in a thread, as the app does, and return the messages it posted."""
    posted: list = []
    first = first or archive.images[0]
    thread = threading.Thread(
        target=loading.read_layers, args=(archive, first, posted.append, lambda: False)
    )
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive()
    return posted


def kinds(posted) -> list[str]:
    return [type(m).__name__ for m in posted if not isinstance(m, loading.LayerProgress)]


@pytest.fixture(params=[1, 2], ids=["in-thread", "worker-processes"])
def workers(request, monkeypatch):
    monkeypatch.setattr(archive_mod, "default_workers", lambda *a: request.param)
    if request.param > 1:
        from layerscope.read.parallel import start_server

        start_server()
    return request.param


def test_every_layer_is_read_and_every_image_analysed(tmp_path, workers):
    path = docker_archive(tmp_path / "a.tar", [Img([A, B]), Img([A, C], tag="two:1")])
    with layerscope.open(str(path)) as expected:
        figures = [(img.final_size, img.reclaimable_bytes) for img in expected.images]
    with layerscope.discover(str(path)) as archive:
        posted = run_loader(archive)
        assert kinds(posted).count("LayerLoaded") == 3  # A once, for both images
        assert kinds(posted).count("ImageAnalysed") == 2
        assert kinds(posted)[-1] == "LoadingFinished" and posted[-1].failed == 0
        assert [(img.final_size, img.reclaimable_bytes) for img in archive.images] == figures
        done = [m for m in posted if isinstance(m, loading.LayerLoaded)]
        assert done[-1].overall_done == done[-1].overall_total


def test_a_failed_layer_is_reported_and_the_rest_goes_on(tmp_path, workers):
    bad = "sha256:" + "0" * 64
    rootfs = {"type": "layers", "diff_ids": [sha(A.tar_bytes), bad]}
    broken = Img([A, B], config_extra={"rootfs": rootfs})
    path = docker_archive(tmp_path / "a.tar", [broken, Img([C], tag="fine:1")], style="podman")
    with layerscope.discover(str(path)) as archive:
        posted = run_loader(archive)
        failed = [m for m in posted if isinstance(m, loading.LayerFailed)]
        assert len(failed) == 1 and failed[0].layer.position == 1
        assert "diff_id" in failed[0].error
        analysed = [m.image.number for m in posted if isinstance(m, loading.ImageAnalysed)]
        assert analysed == [1]
        assert posted[-1].failed == 1


def test_a_second_run_analyses_what_the_first_read(tmp_path):
    path = docker_archive(tmp_path / "a.tar", [Img([A, B]), Img([C], tag="two:1")])
    with layerscope.discover(str(path)) as archive:
        run_loader(archive)
        posted = run_loader(archive, archive.images[1])
        # each image's findings right after its analysis (the summary strip counts them)
        assert kinds(posted) == [
            "ImageAnalysed", "FindingsMade", "ImageAnalysed", "FindingsMade", "LoadingFinished"
        ]  # fmt: skip
        assert [m.image.number for m in posted[:4]] == [1, 1, 0, 0]


def test_a_reopen_through_the_cache_computes_no_figure(tmp_path, monkeypatch):
    """What the loader computes goes into the cache (figures and analysis), so the app opening
    the archive again computes none of it: a re-open is as fast in the app as on the command
    line (the app once left dive's figures, hidden entries and sizes to be computed again)."""
    from layerscope.model import dive_compat, filesystem
    from layerscope.model import image as image_mod

    monkeypatch.setenv("LAYERSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    path = docker_archive(tmp_path / "a.tar", [Img([A, B]), Img([A, C], tag="two:1")])
    with layerscope.discover(str(path), cache=True) as archive:
        run_loader(archive)
        figures = [(img.final_size, img.reclaimable_bytes, img.dive) for img in archive.images]

    def computed(*args, **kwargs):
        raise AssertionError("computed again on a re-open")

    monkeypatch.setattr(filesystem, "analyse", computed)
    monkeypatch.setattr(image_mod, "analyse", computed)
    monkeypatch.setattr(image_mod, "dive_figures", computed)
    monkeypatch.setattr(dive_compat, "dive_figures", computed)
    monkeypatch.setattr(image_mod.Image, "_duplicates", computed)
    with layerscope.discover(str(path), cache=True) as archive:
        posted = run_loader(archive)
        assert kinds(posted).count("ImageAnalysed") == 2
        assert [(i.final_size, i.reclaimable_bytes, i.dive) for i in archive.images] == figures


def test_the_loader_indexes_every_layer_for_the_file_tree(tmp_path, monkeypatch):
    path = docker_archive(tmp_path / "a.tar", [Img([A, B]), Img([A, C], tag="two:1")])
    with layerscope.discover(str(path)) as archive:
        run_loader(archive)

        def made_on_screen(*args, **kwargs):
            raise AssertionError("indexed when shown, not by the loader")

        monkeypatch.setattr(layertree.LayerTree, "__init__", made_on_screen)
        monkeypatch.setattr(imagefacts.LayerFacts, "__init__", made_on_screen)
        for img in archive.images:
            for layer in range(len(img.layers)):
                for mode in ("changes", "image"):
                    view = build_view(img, layer, mode)
                    assert Listing(view).children(0) and len(view) > 1


def _progress(name: str, done: int) -> loading.LayerProgress:
    layer = SimpleNamespace(spec=SimpleNamespace(location=name))
    return loading.LayerProgress(layer, done, done, 100)  # type: ignore[arg-type]


def test_the_loaders_messages_are_coalesced():
    posted: list[tuple[float, object]] = []
    coalescer = loading.Coalescer(lambda m: posted.append((time.monotonic(), m)), interval=0.05)
    finished = loading.LoadingFinished(0)
    for n in range(200):
        coalescer.post(_progress("a", n))
        coalescer.post(_progress("b", n))
        if n == 150:
            coalescer.post(loading.LayerFailed(_progress("a", 0).layer, "bad"))  # type: ignore[arg-type]
        time.sleep(0.001)
    coalescer.post(finished)
    coalescer.close()
    messages = [m for _, m in posted]
    # a layer's progress as it last stood, posted a few times a second, not 400 times
    assert len(messages) < 60
    assert [m.done for m in messages if isinstance(m, loading.LayerProgress)][-2:] == [199, 199]
    assert messages[-1] is finished
    assert sum(isinstance(m, loading.LayerFailed) for m in messages) == 1
    # posted in bursts, each at least an interval after the one before (but the last, which
    # closing the coalescer posts at once)
    times = sorted(t for t, _ in posted)
    starts = [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > 0.01]
    assert len(starts) >= 3
    assert all(b - a >= 0.045 for a, b in pairwise(starts[:-1]))
