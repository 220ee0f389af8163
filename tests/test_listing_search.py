"""The tree filter's search (views/listing.py): exactly what it always matched, in time linear in
the paths searched however deep a hostile archive nests them."""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable

import pytest
from builder import File, Img, Layer, docker_archive
from hypothesis import given, settings
from hypothesis import strategies as st

import layerscope
from layerscope.read.records import DIR, FILE, LayerIndex
from layerscope.views import listing
from layerscope.views.listing import Filter, Listing, glob_pieces
from layerscope.views.treeview import Cancelled, TreeView, build_view


def old_path_matcher(flt: Filter) -> Callable[[str], bool]:
    """The matcher as it was (the oracle): a substring, or the glob searched after the start and
    after every `/` (polynomial in a path's depth)."""
    pat = flt.pattern
    if not flt.is_glob:
        return lambda p: pat in p
    rx = re.compile(r"(?:^|/)" + fnmatch.translate(pat))
    return lambda p: rx.search(p) is not None


def nodes(view: TreeView) -> list[int]:
    """Every node of a view, the root first (each directory listed)."""
    return [0, *view.walk()]


def oracle(view: TreeView, flt: Filter) -> tuple[set[int], set[int]]:
    """The nodes matching (old matcher) and the nodes kept: those and every directory above."""
    test = old_path_matcher(flt)
    low = view.lower_paths()
    seeds = {i for i in nodes(view)[1:] if test(low[i])}
    keep = {0}
    for i in seeds:
        while i not in keep:
            keep.add(i)
            i = view.parents[i]
    return seeds, keep


def kept(lst: Listing) -> set[int]:
    return {i for i in nodes(lst.view) if i in lst}


# -- a chain of directories 2048 deep ------------------------------------------------------------
# The longest name (4095 bytes) holds 2048 components; a search matches each node's own path:
# here 2051 paths of up to 4095 characters, 4 million characters in all.
DEEP = "a/" * 2047 + "f"
CONF = "a/" * 2000 + "x.conf"
ABC = "a/" * 2045 + "b/c"
SLOW = 2.0  # seconds; the search took 4 (`*.conf`) to 55 (`*a*b*c*`) seconds before


@pytest.fixture(scope="module")
def deep_view(tmp_path_factory):
    path = docker_archive(
        tmp_path_factory.mktemp("deep") / "deep.tar",
        [Img([Layer(File(DEEP, b"x"), File(CONF, b"c"), File(ABC, b"abc"))])],
    )
    with layerscope.open(str(path)) as arch:
        view = build_view(arch.images[0], 0, "image")
        assert len(view) == 1 + 2047 + 1 + 3  # the root, 2047 directories `a`, `b`, 3 files
        yield view


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("a*/f", {DEEP}),
        ("*.conf", {CONF}),
        ("*a*b*c*", {ABC}),
        ("A*/B/?", {ABC}),
        ("*a*c*b", set()),
    ],
)
def test_a_glob_search_of_a_2048_deep_chain_is_quick_and_exact(deep_view, search, expected):
    flt = Filter(search=search)
    start = time.perf_counter()
    lst = Listing(deep_view, flt)
    elapsed = time.perf_counter() - start
    assert elapsed < SLOW, f"{search!r} took {elapsed:.1f}s"
    # brute force: the glob matches the whole path, or a tail after a `/`
    pat = flt.pattern
    low = deep_view.lower_paths()
    brute = {
        i
        for i in nodes(deep_view)[1:]
        if fnmatch.fnmatchcase(low[i], pat) or fnmatch.fnmatchcase(low[i], "*/" + pat)
    }
    assert {deep_view.paths[i] for i in brute} == expected
    assert lst.matches == len(expected)
    # what stays: the matches, every directory above them, the root
    assert kept(lst) == {0} | brute | {a for i in brute for a in deep_view.ancestors(i)}


def test_a_substring_search_of_a_2048_deep_chain_is_quick(deep_view):
    start = time.perf_counter()
    lst = Listing(deep_view, Filter(search="B/C"))
    assert time.perf_counter() - start < SLOW
    assert {deep_view.paths[i] for i in kept(lst) if deep_view.types[i] != DIR} == {ABC}


def test_a_long_search_looks_at_cancelled_now_and_then(deep_view):
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return False

    Listing(deep_view, Filter(search="*a*b*c*"), cancelled=cancelled)
    assert len(calls) >= (len(deep_view) - 1) // 1024  # at least every 1024 paths (4 MiB)
    with pytest.raises(Cancelled):
        Listing(deep_view, Filter(search="*a*b*c*"), cancelled=lambda: len(calls) > 0)


# -- same results as the old matcher -------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "pieces"),
    [
        ("", [""]),
        ("a", ["a"]),
        ("*", ["", ""]),
        ("a**b*", ["a", "b", ""]),
        ("[*]x*", ["[*]x", ""]),  # a `*` in a set is no wildcard
        ("[!]*]*", ["[!]*]", ""]),  # `]` first in a set belongs to it
        ("[*x", ["[", "x"]),  # an unclosed `[` is a plain character
    ],
)
def test_a_glob_is_cut_at_its_wildcards_as_fnmatch_reads_it(pattern, pieces):
    assert glob_pieces(pattern) == pieces


@pytest.mark.parametrize(
    ("search", "path", "matches"),
    [
        ("[*]x", "a/*x", True),
        ("[*]x", "a/bx", False),
        ("bin/*", "usr/bin/tool", True),
        ("bin/*", "usr/sbin/tool", False),
        ("*.conf", "etc/app.conf", True),
        ("?", "a/b", True),
        ("?", "ab", False),
        ("a*b", "x/a/b", True),
        ("a*b", "xa/b", False),
        ("a[/]b", "x/a/b", True),
        ("a*b", "x/a\nb", True),  # names may hold a newline: `*` and `?` match it
        ("a?b", "a\nb", True),
    ],
)
def test_a_glob_matches_a_path_or_a_tail_after_a_slash(search, path, matches):
    flt = Filter(search=search)
    assert flt.path_matcher()(path) is matches
    assert old_path_matcher(flt)(path) is matches


def test_an_fnmatch_of_another_form_falls_back_on_the_plain_search(monkeypatch):
    monkeypatch.setattr(listing, "_glob_regex", lambda piece: None)
    for search, path, matches in [("bin/*", "usr/bin/x", True), ("*.conf", "a/b.ini", False)]:
        assert Filter(search=search).path_matcher()(path) is matches


PATTERN_PARTS = ["a", "b", "A", "/", "*", "**", "?", ".", "[ab]", "[!a]", "[a-b]", "[*]", "[/]"]
PATTERN_PARTS += ["[", "]", "!", "-", "\n"]
PATHS = st.text(alphabet="abAB/*?.[]!-\n", max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PATTERN_PARTS), max_size=7), st.lists(PATHS, max_size=8))
def test_the_matcher_agrees_with_the_old_one(parts, paths):
    flt = Filter(search="".join(parts))
    new, old = flt.path_matcher(), old_path_matcher(flt)
    for path in paths:
        low = path.lower()
        assert new(low) == old(low), (flt.pattern, low)


COMPONENT = st.text(alphabet="abAB.*?[]!-\n", min_size=1, max_size=3).filter(
    lambda c: c not in (".", "..")
)
ENTRY = st.tuples(st.sampled_from([FILE, DIR]), st.lists(COMPONENT, min_size=1, max_size=4))


@settings(max_examples=80, deadline=None)
@given(st.lists(ENTRY, max_size=8), st.lists(st.sampled_from(PATTERN_PARTS), max_size=6))
def test_listings_agree_with_the_old_matcher(entries, parts):
    li = LayerIndex.empty()
    for n, (type_, components) in enumerate(entries):
        mode = 0o40755 if type_ == DIR else 0o100644
        li.add("/".join(components), type_, 0, n, mode, 0, 0, 0, 0)
    view = TreeView([li], 0, "changes")  # every node pending: no kind hidden
    flt = Filter(search="".join(parts))
    lst = Listing(view, flt)
    seeds, keep = oracle(view, flt)
    if flt.active:
        assert (lst.matches, kept(lst)) == (len(seeds), keep)
    else:
        assert kept(lst) == set(nodes(view))
