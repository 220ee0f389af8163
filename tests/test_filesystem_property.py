"""Property: for random layer stacks, the incremental union equals a naive re-application of every
layer on a full copy of the tree, and size == final_size + reclaimable_bytes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from builder import Dir, File, Img, Layer, Opaque, Whiteout, docker_archive, open_image
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerscope.model.analysis import IMPLIED, unpack

NAMES = ["a", "b", "c"]
paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join)
entry = st.one_of(
    st.tuples(st.just("file"), paths, st.integers(0, 3)),
    st.tuples(st.just("dir"), paths, st.just(0)),
    st.tuples(st.just("whiteout"), paths, st.just(0)),
    st.tuples(st.just("opaque"), st.one_of(st.just(""), paths), st.just(0)),
)
stacks = st.lists(st.lists(entry, max_size=6), min_size=1, max_size=4)


def _under(fs: dict, path: str) -> list[str]:
    prefix = path + "/" if path else ""
    return [p for p in fs if p.startswith(prefix) and p != path]


def naive(layers: list[list[tuple]], overlay: bool = True) -> dict[str, tuple[int, int] | None]:
    """Apply each layer to a full copy of the tree (None marks an implied directory), as
    overlay storage does, or (`overlay` false) as an applier following lower symlinks does
    (the stacks hold no symlinks: the two differ only where a marker lies under a file)."""
    fs: dict[str, tuple[int, int, str] | None] = {}
    for li, entries in enumerate(layers):
        fs = dict(fs)  # a full copy per layer: the naive way
        for kind, path, _ in entries:  # markers act on lower layers only, wherever they stand
            # (overlay storage) a marker lies in directories of its layer, which replace any
            # non-directory in the way
            inside = f"{path}/.wh..wh..opq" if kind == "opaque" else path
            parts = inside.split("/")
            ancestors = ["/".join(parts[:i]) for i in range(1, len(parts))]
            if (
                overlay
                and kind in ("whiteout", "opaque")
                and any(a in fs and not _is_dir(fs[a]) for a in ancestors)
            ):
                for anc in ancestors:
                    if anc in fs and not _is_dir(fs[anc]):
                        del fs[anc]
                    fs.setdefault(anc, None)
            if kind == "whiteout" and path in fs:
                for p in [path, *_under(fs, path)]:
                    del fs[p]
            elif kind == "opaque" and (path == "" or (path in fs and _is_dir(fs[path]))):
                for p in _under(fs, path):
                    del fs[p]
        row = 0
        for kind, path, _ in entries:
            if kind in ("whiteout", "opaque"):
                row += 1
                continue
            parts = path.split("/")
            for i in range(1, len(parts)):
                anc = "/".join(parts[:i])
                if anc in fs and not _is_dir(fs[anc]):
                    del fs[anc]
                fs.setdefault(anc, None)
            if path in fs and _is_dir(fs[path]) and kind != "dir":
                for p in _under(fs, path):
                    del fs[p]
            fs[path] = (li, row, kind)
            row += 1
    return {p: (v[0], v[1]) if v else None for p, v in fs.items()}


def _is_dir(v) -> bool:
    return v is None or v[2] == "dir"


def _layer(entries: list[tuple]) -> Layer:
    out = []
    for kind, path, content in entries:
        if kind == "file":
            out.append(File(path, b"x" * (content * 3), mode=0o644 if content != 2 else 0o600))
        elif kind == "dir":
            out.append(Dir(path))
        elif kind == "whiteout":
            out.append(Whiteout(path))
        else:
            out.append(Opaque(path))
    return Layer(*out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks, st.sampled_from(["overlay", "follow"]))
def test_incremental_union_equals_naive_reapplication(layers, apply):
    with tempfile.TemporaryDirectory() as d:
        archive = docker_archive(Path(d) / "p.tar", [Img([_layer(x) for x in layers])])
        img = open_image(archive, apply=apply)
        got = {
            p: (None if ref == IMPLIED else unpack(ref)) for p, ref in img.analysis.final.items()
        }
        assert got == naive(layers, overlay=apply == "overlay")
        assert img.size == img.final_size + img.reclaimable_bytes
        # every stored regular file is either visible or listed as hidden
        stored = sum(1 for ly in img.layers for e in ly.entries() if e.type == "file")
        visible = sum(1 for _p, e in img.final_entries() if e is not None and e.type == "file")
        assert stored == visible + sum(1 for h in img.hidden if h.type == "file")


# -- walks through symlinks, memoised ---------------------------------------------------------

COMPONENTS = ["a", "b", "c"]
dirs = st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=4).map("/".join)
targets = st.one_of(
    dirs,
    dirs.map(lambda d: "/" + d),
    dirs.map(lambda d: "../" + d),
    dirs.map(lambda d: d + "/.."),
    st.sampled_from(["", ".", "/", "a//b", "./a"]),
)


class _Links:
    """What a walk needs of the union: symlinks, their targets, the layer's own directories."""

    def __init__(self, links: dict[str, str], own: set[str], max_hops: int) -> None:
        self.links, self.own, self.max_hops = links, own, max_hops

    def link_target(self, path: str) -> str:
        return self.links[path]

    def _is_own_dir(self, path: str) -> bool:
        return path in self.own


def walk(path: str, links: dict[str, str], own: set[str], max_hops: int) -> str:
    """The walk of docs (the kernel's in a chroot), step by step, with nothing remembered."""
    from collections import deque

    from layerscope.model.filesystem import PATH_MAX

    parts, done, hops, steps = deque(path.split("/")), [], 0, 0
    while parts:
        steps += 1
        if steps > PATH_MAX:
            return path
        part = parts.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        cand = f"{done[-1]}/{part}" if done else part
        if len(cand) > PATH_MAX:
            return path
        if cand in links and cand not in own:
            hops += 1
            if hops > max_hops:
                return path
            if links[cand].startswith("/"):
                done = []
            parts.extendleft(reversed(links[cand].split("/")))
            continue
        done.append(cand)
    return done[-1] if done else ""


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(dirs, targets), max_size=6),
    st.sets(dirs, max_size=2),
    st.integers(0, 4),
    st.lists(st.one_of(dirs, st.tuples(dirs, st.one_of(st.none(), targets))), max_size=30),
)
def test_memoised_walks_are_the_walks(links, own, max_hops, steps):
    """Each directory's walk, memoised on its parent's, is the walk made from the root; a
    symlink made, changed or removed forgets the walks it could change, no more."""
    from layerscope.model.filesystem import _Resolver

    state = dict(links)
    union = _Links(state, own, max_hops)
    resolver = _Resolver(union, state)  # type: ignore[arg-type]
    for step in steps:
        if isinstance(step, tuple):  # a symlink made, or removed (None)
            path, target = step
            if target is None:
                state.pop(path, None)
            else:
                state[path] = target
            resolver.changed(path)
        else:
            assert resolver.resolve_dir(step) == walk(step, state, own, max_hops), step
