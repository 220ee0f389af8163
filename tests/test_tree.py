"""The file-tree model the UI draws: views, filters, outlines. Exact figures on the built-in
sample (see tests/fixtures/real/README.md for what its five layers hold), and every node of
random views against the eager build the lazy views replaced (tests/eager_tree.py)."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import eager_tree
import pytest
from builder import Dir, File, Img, Layer, Opaque, Whiteout, docker_archive, open_image
from hypothesis import given, settings
from hypothesis import strategies as st

import layerscope
from layerscope.model.analysis import pack
from layerscope.model.filesystem import analyse
from layerscope.model.kinds import Kind
from layerscope.read.records import (
    DIR,
    F_ALSO_OPAQUE,
    FILE,
    HARDLINK,
    OPAQUE,
    SYMLINK,
    WHITEOUT,
    LayerIndex,
)
from layerscope.views.listing import Filter, Listing
from layerscope.views.outline import AUTO_EXPAND_NODES, Outline, all_dirs, expanded_nodes
from layerscope.views.treeview import Cancelled, TreeView, build_view

DEMO = str(resources.files("layerscope") / "data" / "demo.tar.gz")


@pytest.fixture(scope="module")
def demo():
    archive = layerscope.open(DEMO)
    yield archive.images[0]
    archive.close()


def nodes(view: TreeView) -> list[int]:
    """Every node of a view but the root (each directory listed: the view made whole)."""
    return list(view.walk())


def listing(view: TreeView) -> dict[str, tuple[str, int]]:
    """path -> (kind, size) for every node but the root."""
    return {view.paths[i]: (view.kind(i), view.sizes[i]) for i in nodes(view)}


def rows(outline: Outline) -> list[str]:
    return [outline.view.paths[r.node] for r in outline.rows]


# -- views ---------------------------------------------------------------------------------------
def test_changes_view_of_a_layer_with_whiteouts(demo):
    view = build_view(demo, 2, "changes")
    assert listing(view) == {
        "etc": ("rewritten", 58),
        "etc/config": ("rewritten", 18),
        "etc/config/app.conf": ("rewritten", 18),
        "etc/config/extra.conf": ("removed", 10),
        "etc/motd": ("modified", 40),
        "usr": ("rewritten", 18),
        "usr/share": ("rewritten", 18),
        "usr/share/doc": ("rewritten", 18),
        "usr/share/doc/demo": ("rewritten", 18),
        "usr/share/doc/demo/LICENSE": ("metadata", 18),
        "var": ("rewritten", 0),
        "var/cache": ("rewritten", 0),
        # a removed directory counts the bytes it removed; its parent does not
        "var/cache/demo": ("removed", 24),
        "var/cache/demo/a.cache": ("removed", 8),
        "var/cache/demo/b.cache": ("removed", 8),
        "var/cache/demo/sub": ("removed", 8),
        "var/cache/demo/sub/c.cache": ("removed", 8),
    }
    removed = view.node(view.find("var/cache/demo/sub/c.cache"))
    assert (removed.hidden_by, removed.how, removed.layer) == (2, "parent-whiteout", 0)
    assert view.node(view.find("etc/config/extra.conf")).how == "whiteout"
    assert view.sizes[0] == demo.layers[2].size == 76


def test_changes_view_of_an_opaque_directory(demo):
    view = build_view(demo, 3, "changes")
    assert listing(view) == {
        "opt": ("rewritten", 33),
        "opt/app": ("rewritten", 33),
        "opt/app/bin": ("added", 19),
        "opt/app/bin/run": ("added", 19),
        "opt/app/v2.txt": ("added", 14),
        "opt/app/data": ("removed", 14),
        "opt/app/data/old.bin": ("removed", 14),
        "opt/app/v1.txt": ("removed", 14),
        "usr": ("rewritten", 0),
        "usr/bin": ("rewritten", 0),
        "usr/bin/tool-link": ("removed", 0),
    }
    app = view.node(view.find("opt/app"))
    assert app.opaque and not app.implied
    assert view.node(view.find("opt/app/v1.txt")).how == "opaque"


def test_changes_view_marks_entries_a_later_layer_hides(demo):
    view = build_view(demo, 1, "changes")
    link = view.node(view.find("usr/bin/tool-link"))
    assert (link.kind, link.status, link.hidden_by, link.how) == ("hidden", "added", 3, "whiteout")
    assert (link.type, link.link) == ("symlink", "tool")
    hard = view.node(view.find("srv/data/shared.txt"))
    assert (hard.type, hard.link, hard.size) == ("hardlink", "srv/data/shared-hard.txt", 0)
    assert view.node(view.find("usr/bin/tool")).kind == "rewritten"
    # a directory replaced by a later directory entry merges: it is not hidden
    base = build_view(demo, 0, "changes")
    assert base.node(base.kids(0)[0]).kind == "added"


@pytest.mark.parametrize("n", range(5))
def test_changes_view_root_size_is_the_layer_size(demo, n):
    assert build_view(demo, n, "changes").sizes[0] == demo.layers[n].size


def test_image_view_as_of_a_middle_layer(demo):
    view = build_view(demo, 1, "image")
    counts = {k: view.count(k) for k in ("added", "rewritten", "hidden", "unchanged", "removed")}
    assert counts == {"added": 6, "rewritten": 4, "hidden": 13, "unchanged": 15, "removed": 0}
    hidden = {
        view.paths[i]: (view.hidden_by[i], view.node(i).how)
        for i in nodes(view)
        if view.kind(i) == "hidden"
    }
    assert hidden == {
        "etc/config/app.conf": (2, "overwritten"),
        "etc/config/extra.conf": (2, "whiteout"),
        "etc/motd": (2, "overwritten"),
        "opt/app/data": (3, "opaque"),
        "opt/app/data/old.bin": (3, "opaque"),
        "opt/app/v1.txt": (3, "opaque"),
        "usr/bin/tool-link": (3, "whiteout"),
        "usr/share/doc/demo/LICENSE": (2, "overwritten"),
        "var/cache/demo": (2, "whiteout"),
        "var/cache/demo/a.cache": (2, "parent-whiteout"),
        "var/cache/demo/b.cache": (2, "parent-whiteout"),
        "var/cache/demo/sub": (2, "parent-whiteout"),
        "var/cache/demo/sub/c.cache": (2, "parent-whiteout"),
    }
    readme = view.node(view.find("usr/share/doc/demo/README"))
    assert (readme.kind, readme.layer, readme.size) == ("unchanged", 0, 1191)
    assert view.sizes[0] == 1390
    assert view.sizes[view.find("usr")] == 1251


def test_image_view_of_the_last_layer_is_the_final_filesystem(demo):
    view = build_view(demo, 4, "image")
    shown = {view.paths[i] for i in nodes(view) if view.kind(i) != "removed"}
    assert shown == set(demo.analysis.final)
    assert view.sizes[0] == demo.final_size == 1397
    assert view.count("hidden") == view.count("removed") == 0
    assert view.count("added") == 4 and view.count("rewritten") == 1


def test_image_view_shows_what_the_layer_removed(demo):
    view = build_view(demo, 3, "image")
    assert view.kind(view.find("opt/app/v1.txt")) == "removed"
    assert view.kind(view.find("opt/app/v2.txt")) == "added"
    assert view.kind(view.find("etc/motd")) == "unchanged"
    assert view.sizes[view.find("opt/app")] == 33  # removed bytes are not counted


def test_pending_changes_view_before_the_analysis(demo):
    view = build_view(demo, 2, "changes", analysed=False)
    kinds = {view.paths[i]: (view.kind(i), view.node(i).type) for i in nodes(view)}
    assert kinds["etc/motd"] == ("pending", "file")
    assert kinds["etc/config/extra.conf"] == ("removed", "whiteout")
    assert kinds["var/cache/demo"] == ("removed", "whiteout")
    assert view.sizes[0] == 76
    opaque = build_view(demo, 3, "changes", analysed=False)
    assert opaque.node(opaque.find("opt/app")).opaque
    with pytest.raises(ValueError):
        build_view(demo, 2, "image", analysed=False)


def test_children_sorted_by_size_or_name(demo):
    view = build_view(demo, 4, "image")
    by_size = Listing(view).children(0, "size")
    assert [view.paths[i] for i in by_size] == ["usr", "etc", "srv", "opt", "home", "tmp", "var"]
    by_name = Listing(view).children(0, "name")
    assert [view.paths[i] for i in by_name] == ["etc", "home", "opt", "srv", "tmp", "usr", "var"]


def test_find_and_ancestors(demo):
    view = build_view(demo, 4, "image")
    node = view.find("/usr/share/doc/demo/README")
    assert view.paths[node] == "usr/share/doc/demo/README"
    assert [view.paths[a] for a in view.ancestors(node)] == [
        "usr",
        "usr/share",
        "usr/share/doc",
        "usr/share/doc/demo",
    ]
    assert view.find("no/such/path") is None
    assert view.node(view.find("usr/bin/su-helper")).mode_text == "-rwsr-xr-x"
    assert view.node(view.find("tmp")).mode_text == "drwxrwxrwt"


def test_indexing_the_layers_of_a_view_can_be_cancelled(demo):
    # (the demo's layers are indexed already: a fresh analysis needs its own facts)
    layers = [layer.data for layer in demo.layers]
    with pytest.raises(Cancelled):
        TreeView(layers, 4, "image", analyse(layers), cancelled=lambda: True)
    fresh = analyse(layers)
    with pytest.raises(Cancelled):
        TreeView(layers, 4, "image", fresh, cancelled=lambda: True)
    assert len(TreeView(layers, 4, "image", fresh)) == len(build_view(demo, 4, "image"))


# -- filters -------------------------------------------------------------------------------------
def test_hiding_kinds_keeps_parent_directories(demo):
    view = build_view(demo, 2, "changes")
    lst = Listing(view, Filter(hide=frozenset({"rewritten", "metadata"})))
    kept = {view.paths[i] for i in nodes(view) if i in lst}
    assert kept == {
        "etc",
        "etc/motd",
        "etc/config",
        "etc/config/extra.conf",
        "var",
        "var/cache",
        "var/cache/demo",
        "var/cache/demo/a.cache",
        "var/cache/demo/b.cache",
        "var/cache/demo/sub",
        "var/cache/demo/sub/c.cache",
    }
    assert lst.matches == 7
    assert [view.paths[i] for i in lst.children(view.find("etc/config"))] == [
        "etc/config/extra.conf"
    ]


def test_substring_search_is_case_insensitive_and_keeps_parents(demo):
    view = build_view(demo, 4, "image")
    lst = Listing(view, Filter(search="READ"))
    kept = {view.paths[i] for i in nodes(view) if i in lst}
    assert kept == {
        "usr",
        "usr/share",
        "usr/share/doc",
        "usr/share/doc/demo",
        "usr/share/doc/demo/README",
    }
    assert lst.matches == 1
    # a directory's name matching keeps what is below it (the path holds the match)
    lst = Listing(view, Filter(search="/srv/app"))
    kept = {view.paths[i] for i in nodes(view) if i in lst}
    assert kept == {"srv", "srv/app", "srv/app/hello.txt", "srv/app/conf", "srv/app/conf/app.ini"}


def test_glob_search_matches_names_anywhere(demo):
    view = build_view(demo, 0, "image")
    lst = Listing(view, Filter(search="*.cache"))
    matched = sorted(view.paths[i] for i in nodes(view) if i in lst and view.types[i] != DIR)
    assert matched == [
        "var/cache/demo/a.cache",
        "var/cache/demo/b.cache",
        "var/cache/demo/sub/c.cache",
    ]
    lst = Listing(view, Filter(search="bin/*"))
    matched = sorted(view.paths[i] for i in nodes(view) if i in lst and view.types[i] != DIR)
    assert matched == ["usr/bin/su-helper", "usr/bin/tool"]


def test_search_and_kinds_combine(demo):
    view = build_view(demo, 2, "changes")
    lst = Listing(view, Filter(hide=frozenset({"removed"}), search="conf"))
    kept = {view.paths[i] for i in nodes(view) if i in lst}
    assert kept == {"etc", "etc/config", "etc/config/app.conf"}


def test_filter_spans_for_highlighting():
    assert Filter(search="conf").spans("app.conf") == [(4, 8)]
    assert Filter(search="A").spans("banana") == [(1, 2), (3, 4), (5, 6)]
    assert Filter(search="*.conf").spans("app.CONF") == [(0, 8)]
    assert Filter(search="*.conf").spans("app.ini") == []
    assert Filter(search="etc/con").spans("config") == [(0, 3)]
    assert Filter().spans("x") == []
    assert Filter(hide=frozenset({"added"})).toggled("added") == Filter()
    assert not Filter(search="  ").active


# -- outlines ------------------------------------------------------------------------------------
def test_outline_expands_and_collapses(demo):
    view = build_view(demo, 4, "image")
    out = Outline(Listing(view), "name")
    assert rows(out) == ["etc", "home", "opt", "srv", "tmp", "usr", "var"]
    assert out.expand(0) == 3
    assert rows(out)[:4] == ["etc", "etc/config", "etc/motd", "etc/motd.link"]
    assert out.expand(1) == 1  # etc/config: app.conf
    assert out.collapse(0) == 4
    assert len(out) == 7
    assert out.expand(0) == 4  # etc/config stays open inside
    assert out.parent_index(2) == 1
    assert out.rows[2].guide == "│   │   "
    assert out.rows[4].last and out.rows[4].guide == "│   "


def test_outline_expand_all_and_reveal(demo):
    view = build_view(demo, 4, "image")
    out = Outline(Listing(view), "size", all_dirs(view))
    assert len(out) == len(view) - 1
    assert rows(out)[:3] == ["usr", "usr/share", "usr/share/doc"]
    closed = Outline(Listing(view), "size")
    index = closed.reveal(view.find("srv/app/conf/app.ini"))
    assert rows(closed)[index] == "srv/app/conf/app.ini"
    assert closed.expanded == {view.find("srv"), view.find("srv/app"), view.find("srv/app/conf")}


def test_expanded_nodes_from_paths(demo):
    view = build_view(demo, 4, "image")
    assert expanded_nodes(view, ["etc", "etc/motd", "nope"], everything=False) == {view.find("etc")}
    everything = expanded_nodes(view, [], everything=True, except_paths=["usr"])
    assert view.find("usr") not in everything and view.find("usr/bin") in everything
    assert len(view) <= AUTO_EXPAND_NODES


# -- edge cases, from small archives -------------------------------------------------------------
def test_implied_directories_and_a_whiteout_of_one(tmp_path):
    img = open_image(
        docker_archive(
            tmp_path / "a.tar",
            [
                Img(
                    [
                        Layer(File("a/b/c.txt", b"12345")),
                        Layer(Whiteout("a/b"), File("a/new", b"1")),
                    ]
                )
            ],
        )
    )
    base = build_view(img, 0, "changes")
    a = base.node(base.find("a"))
    assert a.implied and a.type == "dir" and a.mode is None and a.size == 5
    top = build_view(img, 1, "changes")
    assert listing(top) == {
        "a": ("unchanged", 1),  # implied here too: not removed, it holds a new file
        "a/b": ("removed", 5),  # implied below: removed, with what it held
        "a/b/c.txt": ("removed", 5),
        "a/new": ("added", 1),
    }


def test_a_path_stored_twice_in_one_layer(tmp_path):
    img = open_image(
        docker_archive(
            tmp_path / "a.tar", [Img([Layer(Dir("d"), File("d/f", b"one"), File("d/f", b"two!"))])]
        )
    )
    view = build_view(img, 0, "changes")
    files = sorted((view.kind(i), view.sizes[i]) for i in nodes(view) if view.paths[i] == "d/f")
    assert files == [("added", 4), ("hidden", 3)]  # both stored: the first is wasted
    assert view.sizes[0] == 7 == img.layers[0].size


def test_opaque_directory_re_added_with_the_same_name(tmp_path):
    img = open_image(
        docker_archive(
            tmp_path / "a.tar",
            [
                Img(
                    [
                        Layer(Dir("d"), Dir("d/sub"), File("d/sub/x", b"xx")),
                        Layer(Opaque("d"), Dir("d/sub")),
                    ]
                )
            ],
        )
    )
    view = build_view(img, 1, "changes")
    assert listing(view) == {
        "d": ("unchanged", 0),  # implied: the layer has no entry of its own for it
        "d/sub": ("rewritten", 0),  # the model compares with what stood there below
        "d/sub/x": ("removed", 2),
    }
    assert view.node(view.find("d")).opaque


def test_the_core_never_imports_textual():
    code = (
        "import sys, layerscope, layerscope.views.treeview, layerscope.views.listing, "
        "layerscope.views.outline; print('textual' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- properties ----------------------------------------------------------------------------------
NAMES = ["a", "b", "a/x", "a/y", "b/x", "a/x/1", "a/x/2"]
entry = st.tuples(
    st.sampled_from(["file", "dir", "whiteout", "opaque", "symlink"]), st.sampled_from(NAMES)
)


def _index(entries: list[tuple[str, str]], n: int) -> LayerIndex:
    li = LayerIndex.empty()
    codes = {"file": FILE, "dir": DIR, "whiteout": WHITEOUT, "opaque": OPAQUE, "symlink": SYMLINK}
    for i, (kind, path) in enumerate(entries):
        size = (n + 1) * 10 + i if kind == "file" else 0
        mode = 0o40755 if kind == "dir" else 0o100644
        link = "a" if kind == "symlink" else None  # a symlinked parent moves what lies below
        li.add(path, codes[kind], 0, size, mode, 0, 0, 0, 0, bytes([n, i]) * 16, link)
    return li


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(entry, max_size=6), min_size=1, max_size=4))
def test_views_agree_with_the_model(layers_entries):
    layers = [_index(e, n) for n, e in enumerate(layers_entries)]
    a = analyse(layers)
    for n, li in enumerate(layers):
        changes = TreeView(layers, n, "changes", a)
        assert changes.sizes[0] == li.size
        removed = [i for i in nodes(changes) if changes.kind(i) == "removed"]
        entries_removed = [i for i in removed if changes.refs[i] != -1]
        assert len(entries_removed) <= a.removed[n]
        image = TreeView(layers, n, "image", a)
        visible = {
            a.real_path(pack(pos, row))
            for pos in range(n + 1)
            for row in range(len(layers[pos]))
            if layers[pos].types[row] not in (WHITEOUT, OPAQUE)
            and not 0 <= a.hidden_by[pos][row] <= n  # visible as of layer n
        }
        shown = {
            image.paths[i]
            for i in nodes(image)
            if image.kind(i) != "removed" and image.refs[i] != -1
        }
        assert shown == visible
        if n == len(layers) - 1:
            final = {image.paths[i] for i in nodes(image) if image.kind(i) != "removed"}
            assert final == set(a.final)


def test_find_gives_the_first_node_of_a_path_and_directories_first(demo):
    for layer in range(len(demo.layers)):
        for mode in ("changes", "image"):
            view = build_view(demo, layer, mode)
            first: dict[str, int] = {}
            for node in nodes(view):  # a directory's children come in the order made
                first.setdefault(view.paths[node], node)
            for path, node in first.items():
                found = view.find("/" + path + "/")
                assert view.paths[found] == path
                if view.types[found] != DIR:
                    assert found == node
            assert view.find("no/such/path") is None
            assert view.find("") == 0


# -- the same views as the eager build (tests/eager_tree.py), made lazily ------------------------
ORACLE_NAMES = ["a", "b", "c", "a/x", "a/y", "b/x", "a/x/1", "a/x/2", "c/d/e", "a/x/1/z"]
ORACLE_KINDS = ["file", "dir", "whiteout", "opaque", "symlink", "hardlink", "diropq"]
oracle_entry = st.tuples(st.sampled_from(ORACLE_KINDS), st.sampled_from(ORACLE_NAMES) | st.just(""))


def _oracle_index(entries: list[tuple[str, str]], n: int, links: list[str]) -> LayerIndex:
    """A layer of any mix: duplicates, directories replacing files, symlinked parents (which
    move what lies below), directories made opaque by marker or by xattr, the root's own
    entry."""
    li = LayerIndex.empty()
    codes = {"file": FILE, "dir": DIR, "whiteout": WHITEOUT, "opaque": OPAQUE}
    codes |= {"symlink": SYMLINK, "hardlink": HARDLINK, "diropq": DIR}
    for i, (kind, path) in enumerate(entries):
        size = (n + 1) * 10 + i if kind == "file" else 0
        mode = 0o40755 if codes[kind] == DIR else 0o100644
        link = links[i % len(links)] if kind in ("symlink", "hardlink") else None
        flags = F_ALSO_OPAQUE if kind == "diropq" else 0
        li.add(path, codes[kind], flags, size, mode, 0, 0, 0, 0, bytes([n, i]) * 16, link)
    return li


def _every_node(view) -> list[tuple]:
    """Each node's every attribute, in a stable order."""
    eager = isinstance(view, eager_tree.TreeView)
    out = []
    for i in range(1, len(view)) if eager else view.walk():
        n = view.node(i)
        out.append((*n._replace(id=0, children=bool(n.children)), view.refs[i]))
    return sorted(out, key=repr)


def _eager_rows(view: eager_tree.TreeView, sort: str) -> list[str]:
    """The paths of every node, each directory's children as the eager listing sorted them."""
    out: list[str] = []
    stack = [0]
    while stack:
        node = stack.pop()
        kids = view.children.get(node) or []
        if sort == "name":
            kids = sorted(kids, key=lambda k: eager_tree.base_name(view.paths[k]))
        else:
            kids = sorted(kids, key=lambda k: (-view.sizes[k], eager_tree.base_name(view.paths[k])))
        for kid in reversed(kids):
            stack.append(kid)
        if node:
            out.append(view.paths[node])
    return out


def _lazy_rows(view: TreeView, sort: str) -> list[str]:
    return [view.paths[row.node] for row in Outline(Listing(view), sort, view.all_dirs()).rows]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(oracle_entry, max_size=7), min_size=1, max_size=4),
    st.lists(st.sampled_from(["a", "c", "b/x", "c/d", "/a/x"]), min_size=1, max_size=3),
    st.booleans(),
)
def test_lazy_views_are_the_eager_ones(layers_entries, links, follow):
    layers = [_oracle_index(e, n, links) for n, e in enumerate(layers_entries)]
    a = analyse(layers, follow=follow)
    for n in range(len(layers)):
        for mode, analysis in (("changes", a), ("image", a), ("changes", None)):
            eager = eager_tree.TreeView(layers, n, mode, analysis)
            lazy = TreeView(layers, n, mode, analysis)
            assert len(lazy) == len(eager)  # counted before anything is listed
            for kind in Kind:
                assert lazy.count(kind.label) == eager.count(kind.label), kind
            assert _every_node(lazy) == _every_node(eager)
            assert lazy.sizes[0] == eager.sizes[0]
            for sort in ("name", "size"):
                assert _lazy_rows(lazy, sort) == _eager_rows(eager, sort), sort


# -- what a view costs ---------------------------------------------------------------------------
def _wide_layers(files: int) -> list[LayerIndex]:
    """A layer of `files` files in 100 directories of 10 subdirectories each, and a second
    one rewriting a tenth of them and deleting a directory."""
    base, top = LayerIndex.empty(), LayerIndex.empty()
    digest = bytes(32)
    for d in range(100):
        base.add(f"pkg{d}", DIR, 0, 0, 0o40755, 0, 0, 0, 0)
        for s in range(10):
            base.add(f"pkg{d}/sub{s}", DIR, 0, 0, 0o40755, 0, 0, 0, 0)
            for f in range(files // 1000):
                base.add(f"pkg{d}/sub{s}/f{f}", FILE, 0, f + 1, 0o100644, 0, 0, 0, 0, digest)
    for d in range(0, 100, 10):
        top.add(f"pkg{d}", DIR, 0, 0, 0o40755, 0, 0, 0, 0)
        top.add(f"pkg{d}/sub0", WHITEOUT, 0, 0, 0, 0, 0, 0, 0)
        top.add(f"pkg{d}/sub1", DIR, 0, 0, 0o40755, 0, 0, 0, 0)
        for f in range(files // 1000):
            top.add(f"pkg{d}/sub1/f{f}", FILE, 0, 1000 + f, 0o100644, 0, 0, 0, 0, bytes([1]) * 32)
    return [base, top]


def test_a_view_lists_only_the_directories_opened():
    layers = _wide_layers(20_000)
    a = analyse(layers)
    for mode in ("changes", "image"):
        view = TreeView(layers, 1, mode, a)
        assert view.built == 1  # the root only: nothing listed yet
        eager = eager_tree.TreeView(layers, 1, mode, a)
        assert len(view) == len(eager) and view.count("removed") == eager.count("removed")
        assert view.built == 1  # counted from the sums, not by listing
        top = Listing(view).children(0)
        assert [view.sizes[k] for k in top] == [eager.sizes[eager.find(view.paths[k])] for k in top]
        assert view.built == 1 + 2 * len(top)  # the root's children, as nodes and as listed
        pkg = view.find("pkg10/sub1")
        assert view.sizes[pkg] == eager.sizes[eager.find("pkg10/sub1")]
        assert view.built == 1 + 2 * len(top) + 1  # and the one directory found


def test_directory_sizes_follow_what_is_shown(tmp_path):
    img = open_image(
        docker_archive(
            tmp_path / "a.tar",
            [
                Img(
                    [
                        Layer(
                            File("srv/a.bin", b"a" * 100),
                            File("srv/b.txt", b"b" * 50),
                            File("srv/sub/c.bin", b"c" * 10),
                            File("etc/x.conf", b"x" * 7),
                        ),
                        Layer(File("srv/b.txt", b"B" * 60), Whiteout("srv/sub")),
                    ]
                )
            ],
        )
    )
    view = build_view(img, 1, "image")
    srv, sub = view.find("srv"), view.find("srv/sub")
    plain = Listing(view)
    assert (plain.size(srv), plain.size(0)) == (160, 167) and not plain.sizes_shown
    bins = Listing(view, Filter(search="*.bin"))
    assert bins.sizes_shown
    assert (bins.size(srv), bins.size(0)) == (100, 100)  # srv/sub was removed: not counted
    assert bins.size(sub) == 10  # a removed directory counts what it removed, as shown
    assert bins.size(view.find("srv/a.bin")) == 100
    modified = Listing(view, Filter(hide=frozenset({"unchanged"})))
    assert (modified.size(srv), modified.size(0)) == (60, 60)
    assert view.find("etc") not in modified
    assert [view.paths[k] for k in modified.children(srv)] == ["srv/b.txt", "srv/sub"]
    nothing = Listing(view, Filter(hide=frozenset({"unchanged", "modified"})))
    assert nothing.size(0) == 0 and nothing.size(sub) == 10  # only what was removed shows
