"""The views of the file tree kept in memory (layerscope.views.viewcache), without Textual: what
is built once and served again, what makes room, what is built ahead and in which order.

Node counts are the built-in sample's (see tests/fixtures/real/README.md): the changes views of
layers 0-4 hold 32, 12, 18, 12 and 6 nodes; the image views 32, 39, 39, 36 and 36."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from importlib import resources

import pytest

import layerscope
from layerscope.model.image import Image
from layerscope.views.treeview import Cancelled
from layerscope.views.viewcache import ViewCache, preparation_order, view_key

DEMO = str(resources.files("layerscope") / "data" / "demo.tar.gz")


@pytest.fixture(scope="module")
def demo() -> Iterator[Image]:
    archive = layerscope.open(DEMO)
    yield archive.images[0]
    archive.close()


def key(image: Image, layer: int, mode: str) -> tuple[int, int, str, bool]:
    return view_key(image, layer, mode, True)


def test_a_view_is_built_once_then_served(demo):
    built = []
    cache = ViewCache(on_built=lambda: built.append(1))
    view = cache.view(demo, 2, "changes", True)
    assert (view.layer, view.mode, len(view)) == (2, "changes", 18)
    assert cache.view(demo, 2, "changes", True) is view
    assert cache.get(key(demo, 2, "changes")) is view
    assert len(built) == 1 and len(cache) == 1 and cache.nodes == 18
    assert cache.get(key(demo, 3, "changes")) is None
    assert key(demo, 2, "changes") in cache and key(demo, 3, "changes") not in cache


def test_the_least_recently_used_views_make_room(demo):
    cache = ViewCache(limit=64)
    cache.view(demo, 0, "changes", True)  # 32 nodes
    cache.view(demo, 4, "changes", True)  # 6
    cache.view(demo, 0, "changes", True)  # used again: now the most recent
    cache.view(demo, 2, "changes", True)  # 18: 56 in all, under the limit
    cache.view(demo, 3, "changes", True)  # 12: 68, over it: layer 4's view goes
    assert cache.keys() == [key(demo, n, "changes") for n in (0, 2, 3)]
    assert cache.nodes == 32 + 18 + 12


def test_the_latest_view_is_kept_however_big(demo):
    cache = ViewCache(limit=10)
    cache.view(demo, 0, "changes", True)
    view = cache.view(demo, 1, "image", True)  # 39 nodes: the view before it goes
    assert cache.keys() == [key(demo, 1, "image")] and cache.nodes == len(view) == 39


def test_views_are_built_ahead_nearest_first_while_they_fit(demo):
    order = [k for k, _ in preparation_order(demo, 2, "image")]
    assert order[:6] == [
        key(demo, 2, "image"),
        key(demo, 2, "changes"),
        key(demo, 1, "image"),
        key(demo, 3, "image"),
        key(demo, 1, "changes"),
        key(demo, 3, "changes"),
    ]
    assert len(order) == 10 and set(order) == {
        key(demo, n, m) for n in range(5) for m in ("changes", "image")
    }
    everything = ViewCache()
    everything.prepare(demo, 2, "image")
    assert everything.keys() == order
    # Room for 100 nodes: each view is built if its estimate (the entries of its layer, or of
    # the layers up to it) fits in the room left: 55, then 13, then 42; layer 3's image view
    # (64) does not, and nothing more is built.
    some = ViewCache(limit=100)
    some.prepare(demo, 2, "image")
    assert some.keys() == order[:3] and some.nodes == 39 + 18 + 39


def test_views_kept_are_not_built_again_ahead(demo):
    built = []
    cache = ViewCache(on_built=lambda: built.append(1))
    first = cache.view(demo, 2, "image", True)
    cache.prepare(demo, 2, "image")
    assert len(built) == 10 and len(cache) == 10
    assert cache.get(key(demo, 2, "image")) is first


def test_a_cancelled_build_keeps_nothing(demo):
    cache = ViewCache()
    with pytest.raises(Cancelled):
        cache.view(demo, 4, "image", True, cancelled=lambda: True)
    cache.prepare(demo, 4, "image", cancelled=lambda: True)  # stops quietly
    assert len(cache) == 0 and cache.nodes == 0


def test_the_view_cache_needs_no_textual():
    code = "import sys, layerscope.views.viewcache; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
