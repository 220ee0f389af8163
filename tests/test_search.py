"""Searching the whole image (views/search.py): paths of every layer by substring, the view that
shows a path, the next layer whose changes match a filter."""

from __future__ import annotations

import pytest
from builder import Dir, File, Img, Layer, Opaque, Whiteout, docker_archive, open_image

from layerscope.views.listing import Filter
from layerscope.views.search import PathIndex, Place, locate, next_layer_matching
from layerscope.views.treeview import Cancelled
from layerscope.views.viewcache import ViewCache

LAYERS = [
    Layer(Dir("etc"), File("etc/app.conf", b"a"), Dir("var/cache"), File("var/cache/x.bin", b"x")),
    Layer(File("usr/bin/tool", b"t"), File("etc/App.CONF.bak", b"b")),
    Layer(Whiteout("var/cache"), File("etc/app.conf", b"new")),
    Layer(Opaque("usr/bin"), File("usr/bin/other", b"o")),
    Layer(File("srv/late.conf", b"l")),
]


@pytest.fixture
def image(tmp_path):
    return open_image(docker_archive(tmp_path / "a.tar", [Img(LAYERS)]))


def test_paths_of_every_layer_by_substring_any_case(image):
    index = PathIndex(image)
    assert index.find("conf", 10) == ["etc/app.conf", "srv/late.conf", "etc/App.CONF.bak"]
    assert index.find("/USR/BIN/", 10) == ["usr/bin", "usr/bin/tool", "usr/bin/other"]
    assert index.find("conf", 1) == ["etc/app.conf"]  # the shortest
    assert index.find("   ", 10) == [] and index.find("nothing", 10) == []


def test_touching_layers_hold_the_path_below_it_or_remove_it(image):
    index = PathIndex(image)
    assert index.touching("etc/app.conf") == [0, 2]
    assert index.touching("var/cache/x.bin") == [0, 2]  # layer 2 removed its directory
    assert index.touching("usr/bin/tool") == [1, 3]  # layer 3 cleared its directory
    assert index.touching("usr") == [1, 3]  # an implied directory: entries below it
    assert index.touching("nowhere") == []


def test_locate_prefers_the_same_layer_then_the_layer_that_last_touched_it(image):
    views, index = ViewCache(), PathIndex(image)

    def where(path: str, layer: int, mode: str) -> Place | None:
        return locate(views, index, path, Place(layer, mode), analysed=True)

    # unchanged in layer 3: the image as of layer 3 shows it (the mode only changes)
    assert where("etc/app.conf", 3, "changes") == Place(3, "image")
    # not there yet as of layer 1: the final image (the mode stays), or the layer adding it
    assert where("srv/late.conf", 1, "image") == Place(4, "image")
    assert where("srv/late.conf", 1, "changes") == Place(4, "changes")
    # removed by layer 2: the layer that removed it, at or below the one on screen
    assert where("var/cache/x.bin", 4, "image") == Place(2, "changes")
    assert where("var/cache/x.bin", 4, "changes") == Place(2, "changes")
    # in the final image: in the image mode, the top layer
    assert where("usr/bin/other", 1, "image") == Place(4, "image")
    assert where("nowhere/at/all", 0, "changes") is None
    # before the analysis, only the changes views
    assert locate(views, index, "etc/app.conf", Place(3, "changes"), analysed=False) == Place(
        2, "changes"
    )
    with pytest.raises(Cancelled):
        locate(views, index, "srv/late.conf", Place(0, "changes"), True, lambda: True)


def test_next_layer_whose_changes_match(image):
    views = ViewCache()
    conf = Filter(search="conf")

    def after(layer: int, step: int, flt: Filter = conf) -> int | None:
        return next_layer_matching(views, image, flt, layer, step, True)

    assert [after(0, 1), after(1, 1), after(2, 1), after(4, 1)] == [1, 2, 4, None]
    assert [after(4, -1), after(1, -1), after(0, -1)] == [2, 0, None]
    assert after(0, 1, Filter(frozenset({"added", "modified"}), "conf")) is None  # kinds hidden
    assert after(0, 1, Filter(search="*.bak")) == 1  # a glob
