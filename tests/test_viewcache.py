"""The views of the file tree kept in memory (layerscope.views.viewcache), without Textual: what
is made once and served again, what makes room, what is made ahead and in which order.

A view costs nothing to make once its layers are indexed; it holds the directories listed in
it (`built`), and the cache makes room by those."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from importlib import resources

import pytest

import layerscope
from layerscope.model.image import Image
from layerscope.views.imagefacts import image_facts
from layerscope.views.listing import Listing
from layerscope.views.treeview import Cancelled
from layerscope.views.viewcache import ViewCache, preparation_order, view_key

DEMO = str(resources.files("layerscope") / "data" / "demo.tar.gz")


@pytest.fixture
def demo() -> Iterator[Image]:
    archive = layerscope.open(DEMO)
    yield archive.images[0]
    archive.close()


def key(image: Image, layer: int, mode: str) -> tuple[int, int, str, bool]:
    return view_key(image, layer, mode, True)


def test_a_view_is_made_once_then_served(demo):
    cache = ViewCache()
    view = cache.view(demo, 2, "changes", True)
    assert (view.layer, view.mode, len(view)) == (2, "changes", 18)
    assert cache.view(demo, 2, "changes", True) is view
    assert cache.get(key(demo, 2, "changes")) is view
    assert len(cache) == 1 and cache.nodes == view.built == 1  # nothing listed but the root
    assert cache.get(key(demo, 3, "changes")) is None
    assert key(demo, 2, "changes") in cache and key(demo, 3, "changes") not in cache


def test_the_least_recently_used_views_make_room(demo):
    cache = ViewCache(limit=80)
    listed = []
    for layer in (4, 0, 4, 2, 3):  # layer 4 used again: it becomes more recent than 0
        view = cache.view(demo, layer, "image", True)
        Listing(view).children(0)  # the root's children only
        listed.append(view.built)
    assert listed == [15, 13, 15, 15, 15] and cache.nodes == 13 + 15 * 3  # all fit
    for _ in cache.view(demo, 3, "image", True).walk():  # every directory of layer 3 listed
        pass
    assert cache.nodes == 13 + 15 * 2 + 55
    cache.view(demo, 2, "image", True)  # used: more recent than layer 3's
    cache.view(demo, 1, "image", True)  # made: the least recently used make room
    assert cache.keys() == [key(demo, 3, "image"), key(demo, 2, "image"), key(demo, 1, "image")]
    assert cache.nodes == 55 + 15 + 1


def test_the_latest_view_is_kept_however_big(demo):
    cache = ViewCache(limit=10)
    cache.view(demo, 0, "changes", True)
    view = cache.view(demo, 1, "image", True)
    for _ in view.walk():
        pass
    cache.view(demo, 1, "image", True)
    assert cache.keys() == [key(demo, 0, "changes"), key(demo, 1, "image")]
    cache.view(demo, 2, "image", True)  # the views before it go: they list too much
    assert cache.keys() == [key(demo, 2, "image")]


def test_views_are_made_ahead_nearest_first(demo):
    order = preparation_order(demo, 2, "image")
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
    built = []
    cache = ViewCache(on_built=lambda: built.append(1))
    first = cache.view(demo, 2, "image", True)
    cache.prepare(demo, 2, "image")
    assert cache.keys()[0] is not None and set(cache.keys()) == set(order)
    assert cache.get(key(demo, 2, "image")) is first  # kept: not made again
    assert built == [1]  # the layers indexed (once), then the views made
    facts = image_facts(demo.analysis)
    assert all(facts.facts(n) is facts.facts(n) for n in range(5))


def test_a_cancelled_preparation_keeps_nothing(demo):
    cache = ViewCache()
    cache.prepare(demo, 4, "image", cancelled=lambda: True)  # stops quietly
    assert len(cache) == 0 and cache.nodes == 0
    with pytest.raises(Cancelled):  # a view of layers not indexed yet: their indexing stops
        cache.view(demo, 4, "image", True, cancelled=lambda: True)
    assert len(cache) == 0


def test_the_view_cache_needs_no_textual():
    code = "import sys, layerscope.views.viewcache; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_counting_listed_nodes_while_another_thread_lists(tmp_path):
    """The cache counts the nodes of its views (making room) while a tree thread lists
    directories of one of them: counting never walks what the lister is growing (a CI run
    once failed with "dictionary changed size during iteration")."""
    import threading

    from builder import File, Img, Layer, docker_archive, open_image

    files = [File(f"d{i}/s{j}/f", b"x") for i in range(40) for j in range(40)]
    image = open_image(docker_archive(tmp_path / "a.tar", [Img([Layer(*files)])]))
    cache = ViewCache()
    view = cache.view(image, 0, "image", True)
    other = cache.view(image, 0, "changes", True)
    errors: list[BaseException] = []
    counted: list[int] = []
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads interleave as much as they can

    def count() -> None:
        try:
            while not done.is_set():
                counted.append(cache.nodes)
        except BaseException as error:  # the test reports it
            errors.append(error)

    done = threading.Event()
    counter = threading.Thread(target=count)
    counter.start()
    try:
        for _ in view.walk():
            pass
    finally:
        done.set()
        counter.join()
        sys.setswitchinterval(switch)
    assert errors == []
    assert counted == sorted(counted)  # the count only grows as directories are listed
    assert view.built == 1 + 40 + 40 * 40 + 40 + 40 * 40 + 40 * 40  # dirs, and each listing
    assert cache.nodes == view.built + other.built
