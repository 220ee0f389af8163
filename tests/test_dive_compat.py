"""dive_compat: dive 0.13.1's figures, by hand-worked examples and against the real dive."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import shutil
import subprocess
import tarfile
import time
from array import array
from pathlib import Path

import pytest

from layerscope.model import dive_compat
from layerscope.model.dive_compat import (
    DiveEntry,
    DiveFigures,
    InefficientPath,
    dive_figures,
    go_clean,
)


def f(path: str, size: int) -> DiveEntry:
    return DiveEntry(path, "file", size)


def d(path: str, size: int = 0) -> DiveEntry:
    return DiveEntry(path, "dir", size)


def wh(path: str, size: int = 0) -> DiveEntry:
    return DiveEntry(path, "whiteout", size)


def opq(path: str) -> DiveEntry:
    return DiveEntry(path, "opaque", 0)


def waste(figures: DiveFigures) -> set[tuple[str, int, int]]:
    return {(p.path, p.count, p.cumulative_size) for p in figures.inefficient}


# --- worked by hand from dive's algorithm -------------------------------------------------------


def test_empty_image() -> None:
    figures = dive_figures([])
    assert figures.efficiency == 1.0
    assert figures.wasted_bytes == 0
    assert math.isnan(figures.user_wasted_fraction)  # Go: 0/0
    assert figures.layer_sizes == () and figures.inefficient == ()
    assert figures.as_report() == {
        "efficiency": 1.0,
        "wasted_bytes": 0,
        "user_wasted_fraction": None,
    }


def test_single_layer_has_no_user_size() -> None:
    figures = dive_figures([[d("etc"), f("etc/passwd", 700), f("bin", 300)]])
    assert (figures.efficiency, figures.wasted_bytes) == (1.0, 0)
    assert figures.layer_sizes == (1000,)
    assert (figures.size_bytes, figures.user_size_bytes) == (1000, 0)
    assert math.isnan(figures.user_wasted_fraction)


def test_file_overwritten() -> None:
    # "f": 100 then 30 -> cumulative 130, minimum 30
    figures = dive_figures([[f("f", 100), f("g", 50)], [f("f", 30)]])
    assert figures.efficiency == 80 / 180
    assert figures.wasted_bytes == 130
    assert figures.inefficient == (InefficientPath("f", 2, 130),)
    assert figures.user_wasted_fraction == 130 / 30
    assert figures.layer_sizes == (150, 30)


def test_file_deleted() -> None:
    # the whiteout of a file counts 0: "a/f" cumulative 100, minimum 0
    layers = [[d("a"), f("a/f", 100), f("b", 50)], [wh("a/f"), f("c", 10)]]
    figures = dive_figures(layers)
    assert waste(figures) == {("a/f", 2, 100)}
    assert figures.efficiency == (0 + 50 + 10) / (100 + 50 + 10)
    assert figures.user_wasted_fraction == 100 / 10


def test_directory_deleted_is_not_waste() -> None:
    # "d" is no leaf in layer 0, so its path is seen once: the whiteout sums the directory
    # (100) as both cumulative and minimum, and "d/x", "d/y" are seen once each.
    layers = [[d("d"), f("d/x", 40), f("d/y", 60), f("e", 10)], [wh("d"), f("n", 5)]]
    figures = dive_figures(layers)
    assert figures.wasted_bytes == 0
    assert figures.efficiency == 1.0
    assert figures.user_wasted_fraction == 0.0


def test_deleted_empty_directory_is_listed_with_zero_bytes() -> None:
    figures = dive_figures([[d("d")], [wh("d")]])
    assert figures.inefficient == (InefficientPath("d", 2, 0),)
    assert (figures.efficiency, figures.wasted_bytes) == (1.0, 0)


def test_implicit_directory_is_no_directory() -> None:
    # a directory only implied by its files has no payload: not a dir, its whiteout counts 0.
    # Re-adding "d" in layer 3 makes "d" seen twice: cumulative = what the whiteout counted.
    implicit = [[d("d"), f("d/f", 100)], [f("d/g", 5)], [wh("d")], [d("d")]]
    explicit = [[d("d"), f("d/f", 100)], [d("d"), f("d/g", 5)], [wh("d")], [d("d")]]
    assert dive_figures(implicit).inefficient == (InefficientPath("d", 2, 0),)
    assert dive_figures(explicit).inefficient == (InefficientPath("d", 2, 105),)
    assert dive_figures(explicit).efficiency == 0.5


def test_opaque_directory_changes_nothing() -> None:
    layers = [[d("d"), f("d/x", 40)], [d("d"), opq("d"), f("d/y", 5)]]
    figures = dive_figures(layers)
    assert (figures.efficiency, figures.wasted_bytes) == (1.0, 0)
    # ... but its missing parent is still created, as an empty leaf
    figures = dive_figures([[d("d"), f("d/x", 100)], [opq("e")], [f("e", 4)]])
    assert figures.inefficient == (InefficientPath("e", 2, 4),)
    assert figures.efficiency == 100 / 104


def test_duplicates_in_one_layer() -> None:
    # the last entry wins in the tree, but both count in the layer size
    figures = dive_figures([[f("f", 100), f("f", 30)], [f("f", 7)]])
    assert figures.layer_sizes == (130, 7)
    assert figures.inefficient == (InefficientPath("f", 2, 37),)
    assert figures.efficiency == 7 / 37


def test_whiteout_without_target_stops_the_layer() -> None:
    # ".wh.q" sorts before "a": dive gives up on layer 1 there, so "a" (3 bytes) is never seen,
    # and "q" keeps a minimum of -1: (10 - 1) / 10.
    figures = dive_figures([[f("a", 10)], [f("a", 3), wh("q")]])
    assert figures.efficiency == 0.9
    assert figures.wasted_bytes == 0
    assert figures.aborted_layers == (1,)


def test_whiteout_in_first_layer_looks_in_the_first_layer() -> None:
    figures = dive_figures([[f("a", 10), wh("a")]])
    assert figures.inefficient == (InefficientPath("a", 2, 10),)
    assert figures.efficiency == 0.0
    assert figures.user_wasted_fraction == math.inf  # Go: 10/0
    assert figures.as_report()["user_wasted_fraction"] is None


def test_siblings_are_visited_in_byte_order() -> None:
    # "\udcff" is the byte 0xff, after "\ue000" (ee 80 80) in bytes though not in code points:
    # dive stops at "\ue000/.wh.q" before it ever sees "\udcff".
    figures = dive_figures([[f("z", 1)], [f("\udcff", 10), wh("\ue000/q")]])
    assert figures.efficiency == 0.0
    assert figures.aborted_layers == (1,)


def test_sizes_count_every_header() -> None:
    layers = [
        [d("d", 7), DiveEntry("d/l", "hardlink", 13, "x"), DiveEntry("d/s", "symlink", 0, "x")],
        [wh("d", 2)],
    ]
    figures = dive_figures(layers)
    assert figures.layer_sizes == (20, 2)
    # the whiteout sums the directory: its own size, the hardlink's header size
    assert figures.efficiency == (7 + 13 + 0 + 20) / (7 + 13 + 0 + 20)


def test_root_entry_is_skipped() -> None:
    assert dive_figures([[d(""), f("a", 1)]]).layer_sizes == (1,)


def test_raw_name_is_cleaned_like_go() -> None:
    assert go_clean("./a//b/") == "a/b"
    assert go_clean("/../a") == "/a"
    assert go_clean("a/../..") == ".."
    assert go_clean("") == go_clean("./") == "."
    # "a/../b" is "b" for dive: overwritten by layer 1
    layers = [[DiveEntry("a/../b", "file", 20, None, "a/../b")], [f("b", 1)]]
    assert dive_figures(layers).inefficient == (InefficientPath("b", 2, 21),)
    # "./" is skipped, "/" is kept (and counted)
    assert dive_figures([[DiveEntry("", "dir", 3, None, "/")]]).layer_sizes == (3,)
    assert dive_figures([[DiveEntry("", "dir", 3, None, "./")]]).layer_sizes == (0,)


def test_whiteout_marker_stored_as_directory() -> None:
    # ".wh.a/" (a directory), ".wh.a/e", and ".wh..wh.a" (a whiteout of ".wh.a", which is not
    # dropped like ".wh..wh..opq"): that whiteout sums the directory ".wh.a" = 4096.
    layers = [
        [
            DiveEntry("a", "whiteout", 0, is_dir=True),
            f(".wh.a/e", 4096),
            wh(".wh.a", 5),
        ],
        [wh(".wh.a/e")],
    ]
    figures = dive_figures(layers)
    assert figures.efficiency == 0.5
    assert figures.inefficient == (InefficientPath(".wh.a/e", 2, 4096),)


def test_accepts_iterators() -> None:
    layers = ((e for e in layer) for layer in [[f("f", 100)], [f("f", 30)]])
    assert dive_figures(layers).wasted_bytes == 130


def test_inefficient_paths_largest_first() -> None:
    figures = dive_figures([[f("a", 1), f("b", 50), f("c", 50)], [f("a", 1), f("b", 1), f("c", 1)]])
    assert [p.path for p in figures.inefficient] == ["b", "c", "a"]


def test_many_directory_whiteouts_stay_linear() -> None:
    # dive restacks every lower layer for each whiteout; 2,000 of them over 20,000 files
    # would take minutes that way
    base = [d(f"d{i}") for i in range(2000)]
    base += [f(f"d{i}/f{j}", j) for i in range(2000) for j in range(10)]
    layers = [base, [f("x", 1)], [wh(f"d{i}") for i in range(2000)]]
    start = time.perf_counter()
    figures = dive_figures(layers)
    assert time.perf_counter() - start < 5
    assert figures.wasted_bytes == 0 and figures.aborted_layers == ()


def test_leaves_of_a_plain_layer() -> None:
    # "a" has a path under it (no leaf, its 9 bytes count only in the layer size); "a.b" sorts
    # between "a" and "a/b" as a string but is no child of "a"; "a//b" lies under "a" too
    layers = [[d("a", 9), f("a.b", 1), f("a/b", 2), f("a//b", 3)], [f("a", 4), f("a.b", 5)]]
    figures = dive_figures(layers)
    assert waste(figures) == {("a.b", 2, 6)}
    assert figures.efficiency == (1 + 2 + 3 + 4) / (1 + 2 + 3 + 4 + 5)
    assert figures.layer_sizes == (15, 9)


def test_stack_built_late_and_kept() -> None:
    # layers 0, 1 and 3 need no lookup; the whiteouts of layers 2 and 4 look in the stack
    layers = [
        [d("d"), f("d/x", 40)],
        [d("d"), f("d/y", 5)],
        [d("d"), wh("d/x"), f("e", 1)],  # "d" listed: implied, it would be no directory
        [f("g", 2)],
        [wh("d")],  # sums "d" as the layers below leave it: d/y alone
    ]
    figures = dive_figures(layers)
    assert figures.inefficient == (InefficientPath("d/x", 2, 40),)
    assert figures.efficiency == (0 + 5 + 1 + 2 + 5) / (40 + 0 + 5 + 1 + 2 + 5)
    assert figures.layer_sizes == (40, 5, 1, 2, 0)


def test_whiteout_and_file_of_one_path_in_one_layer() -> None:
    # ".wh.x" (0: the "x" below) and "x" are two leaves of one path in layer 1
    figures = dive_figures([[f("x", 10)], [wh("x"), f("x", 3)]])
    assert figures.inefficient == (InefficientPath("x", 3, 13),)
    assert figures.efficiency == 0.0


def test_path_of_a_missing_whiteout_seen_later() -> None:
    # "q" gets its first size in layer 2: its -1 from layer 1 is gone
    figures = dive_figures([[f("a", 10)], [f("z", 3), wh("q")], [f("q", 4)]])
    assert figures.aborted_layers == (1,)
    assert (figures.efficiency, figures.wasted_bytes) == (1.0, 0)
    figures = dive_figures([[f("a", 10)], [f("z", 3), wh("q")], [wh("q")]])
    assert figures.aborted_layers == (1, 2)
    assert figures.efficiency == 0.9  # one -1 for "q", however often it is missed


def hand_worked_layers() -> list[list[list[DiveEntry]]]:
    return [
        [[f("f", 100), f("g", 50)], [f("f", 30)]],
        [[d("a"), f("a/f", 100), f("b", 50)], [wh("a/f"), f("c", 10)]],
        [[d("d"), f("d/f", 100)], [d("d"), f("d/g", 5)], [wh("d")], [d("d")]],
        [[f("f", 100), f("f", 30)], [f("f", 7)]],
        [[f("a", 10)], [f("a", 3), wh("q")], [f("q", 4)]],
        [[f("a", 10), wh("a")]],
        [[f("x", 10)], [wh("x"), f("x", 3)], [f("x", 1), f("x", 2)]],
    ]


def test_counting_every_path_by_name_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # the paths `_repeats` leaves out are each one leaf's: counted by name, the figures are equal
    cases = hand_worked_layers()
    cases += [[[normalise(*e) for e in layer] for layer in random_layers(s)] for s in range(300)]
    expected = [repr(dive_figures(layers)) for layers in cases]
    every: set[str] = set()
    real = dive_compat._repeats

    def all_paths(visits, keys, missing):  # type: ignore[no-untyped-def]
        for visit in visits:
            every.update(visit.keys)
        return real(visits, keys, missing) | every

    monkeypatch.setattr(dive_compat, "_repeats", all_paths)
    assert [repr(dive_figures(layers)) for layers in cases] == expected


def test_layers_read_from_columns_count_as_trees_do(monkeypatch: pytest.MonkeyPatch) -> None:
    # the shortcuts (a plain layer's leaves from its paths, whiteouts over one plain layer looked
    # up in its columns and visited in any order) give what dive's trees give
    cases = hand_worked_layers()
    cases += [[[normalise(*e) for e in layer] for layer in random_layers(s)] for s in range(300)]
    cases += [[[f("a/b", 3), d("a"), f("c/d", 1)], [wh("a"), f("e", 2)]], [[d("x")], [wh("x/y")]]]
    expected = [repr(dive_figures(layers)) for layers in cases]
    monkeypatch.setattr(dive_compat, "_whiteout_visits", lambda layer, below: None)
    monkeypatch.setattr(dive_compat._Stack, "plain_only", lambda self: None)
    assert [repr(dive_figures(layers)) for layers in cases] == expected


def test_repeats_are_the_paths_of_two_leaves_or_missing() -> None:
    visit = dive_compat._Visit
    visits = [
        visit(["a", "b", "c", "c"], array("q", [1, 2, 3, 4]), bytearray([1, 1, 0, 1]), True),
        visit(["d", "e", "d"], array("q", [1, 2, 3]), None, False),
        visit(["b", "f"], array("q", [1, 2]), None, True),
    ]
    keys = [v.leaf_keys() for v in visits]
    assert dive_compat._repeats(visits, keys, ["g"]) == {"b", "d", "g"}
    assert dive_compat._repeats(visits[:1], keys[:1], []) == set()


# --- against the real dive ------------------------------------------------------------------

DIVE = shutil.which("dive")
needs_dive = pytest.mark.skipif(DIVE is None, reason="dive is not on PATH")

RawEntry = tuple[str, bytes, int, str | None]  # tar name, tar type, header size, link target
_TYPES = {
    tarfile.REGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.FIFOTYPE: "fifo",
}


def _layer_tar(entries: list[RawEntry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, size, link in entries:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.mode = kind, size, 0o755
            if link:
                info.linkname = link
            # tarfile writes the header size as given; only regular files get content
            tar.addfile(info, io.BytesIO(bytes(size)) if kind == tarfile.REGTYPE else None)
    return buf.getvalue()


def write_docker_archive(path: Path, layers: list[list[RawEntry]]) -> None:
    """A `docker save` archive: manifest.json, a config, and <n>/layer.tar per layer."""

    def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(path, "w") as tar:
        names, diff_ids = [], []
        for index, entries in enumerate(layers):
            blob = _layer_tar(entries)
            names.append(f"{index}/layer.tar")
            diff_ids.append("sha256:" + hashlib.sha256(blob).hexdigest())
            add(tar, names[-1], blob)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"step {i}"} for i in range(len(layers))],
        }
        config_blob = json.dumps(config).encode()
        config_name = hashlib.sha256(config_blob).hexdigest() + ".json"
        add(tar, config_name, config_blob)
        manifest = [{"Config": config_name, "RepoTags": ["x:1"], "Layers": names}]
        add(tar, "manifest.json", json.dumps(manifest).encode())


def normalise(name: str, kind: bytes, size: int, link: str | None) -> DiveEntry:
    """A tar entry as layerscope reports it (see docs/report.md)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    is_dir = kind == tarfile.DIRTYPE
    if not parts:
        return DiveEntry("", "dir", size)
    last = parts[-1]
    if last == ".wh..wh..opq":
        return DiveEntry("/".join(parts[:-1]), "opaque", size, None, None, is_dir)
    if last.startswith(".wh."):
        return DiveEntry("/".join([*parts[:-1], last[4:]]), "whiteout", size, None, None, is_dir)
    return DiveEntry("/".join(parts), _TYPES[kind], size, link)


NAMES = ["a", "b", "-c", "B", "a.b", "e", "zz", ".wh.a"]


def random_layers(seed: int) -> list[list[RawEntry]]:
    """Files, directories (given or implied), links, overwrites, whiteouts (mostly of paths that
    exist below), opaque markers, duplicates, root entries, odd sizes, "./" and "/" prefixes."""
    rng = random.Random(seed)
    known: set[str] = set()
    layers: list[list[RawEntry]] = []
    for _ in range(rng.randint(1, 6)):
        below = sorted(known)
        out: list[RawEntry] = []
        for _ in range(rng.randint(0, 12)):
            op = rng.choices(
                ["file", "dir", "link", "wh", "opq", "dup", "root"], [30, 12, 6, 14, 6, 5, 2]
            )[0]
            pre = rng.choice(["", "", "./", "/"])
            path = "/".join(rng.choice(NAMES) for _ in range(rng.choice([1, 2, 2, 3])))
            if op == "file":
                parts = path.split("/")
                if rng.random() < 0.6:
                    out += [
                        (pre + "/".join(parts[:i]) + "/", tarfile.DIRTYPE, 0, None)
                        for i in range(1, len(parts))
                    ]
                size = rng.choice([0, 1, 100, 4096, rng.randint(0, 100_000)])
                out.append((pre + path, tarfile.REGTYPE, size, None))
                known.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
            elif op == "dir":
                out.append((pre + path + "/", tarfile.DIRTYPE, rng.choice([0, 0, 3]), None))
                known.add(path)
            elif op == "link":
                if rng.random() < 0.5:
                    out.append((pre + path, tarfile.SYMTYPE, 0, "a"))
                else:
                    out.append((pre + path, tarfile.LNKTYPE, rng.choice([0, 11]), "a"))
                known.add(path)
            elif op == "wh" and (below or rng.random() < 0.15):
                path = rng.choice(below) if below and rng.random() < 0.95 else path
                head, _, tail = path.rpartition("/")
                out.append(
                    (
                        pre + (head + "/" if head else "") + ".wh." + tail,
                        tarfile.REGTYPE,
                        rng.choice([0, 0, 5]),
                        None,
                    )
                )
            elif op == "opq":
                path = rng.choice(below) if below and rng.random() < 0.7 else path
                if rng.random() < 0.5:
                    out.append((pre + path + "/", tarfile.DIRTYPE, 0, None))
                out.append((pre + path + "/.wh..wh..opq", tarfile.REGTYPE, 0, None))
            elif op == "dup" and out:
                out.append(rng.choice(out))
            elif op == "root":
                out.append((rng.choice(["./", "/"]), tarfile.DIRTYPE, 0, None))
        layers.append(out)
    return layers


R, D = tarfile.REGTYPE, tarfile.DIRTYPE
FIXED = {
    "overwrite-delete": [
        [("a/", D, 0, None), ("a/f", R, 100, None), ("a/g", R, 50, None), ("b", R, 10, None)],
        [("a/", D, 0, None), ("a/f", R, 30, None), ("b", R, 10, None)],
        [("a/.wh.g", R, 0, None), (".wh.b", R, 0, None)],
    ],
    "byte-order": [[("z", R, 1, None)], [("\udcff", R, 10, None), ("\ue000/.wh.q", R, 0, None)]],
    "reimplied-dir": [
        [("d/", D, 0, None), ("d/f", R, 100, None)],
        [("d/g", R, 5, None)],
        [(".wh.d", R, 0, None)],
        [("d/", D, 0, None)],
    ],
    "lazy-stack": [
        [("d/", D, 0, None), ("d/x", R, 40, None)],
        [("d/", D, 0, None), ("d/y", R, 5, None)],
        [("d/", D, 0, None), ("d/.wh.x", R, 0, None), ("e", R, 1, None)],
        [("g", R, 2, None)],
        [(".wh.d", R, 0, None)],
    ],
    "missing-whiteout-seen-later": [
        [("a", R, 10, None)],
        [("z", R, 3, None), (".wh.q", R, 0, None)],
        [("q", R, 4, None)],
    ],
    "whiteout-and-file-in-one-layer": [
        [("x", R, 10, None)],
        [(".wh.x", R, 0, None), ("x", R, 3, None)],
        [("x", R, 1, None), ("x", R, 2, None)],
    ],
    "whiteout-dir-marker": [
        [("/.wh.a/", D, 0, None), ("/.wh.a/e", R, 4096, None), ("/.wh..wh.a", R, 5, None)],
        [(".wh.a/.wh.e", R, 0, None)],
    ],
}


def dive_json(tmp_path: Path, name: str, layers: list[list[RawEntry]]) -> dict:
    archive, out = tmp_path / f"{name}.tar", tmp_path / f"{name}.json"
    write_docker_archive(archive, layers)
    # a fresh output path each time: dive does not truncate a file it overwrites
    run = subprocess.run(
        [str(DIVE), "--source", "docker-archive", str(archive), "--json", str(out)],
        env={k: v for k, v in os.environ.items() if k != "CI"},
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(out.read_text(errors="replace"))


def _as_dive_shows(path: str) -> str:
    return "/" + path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def assert_same(dive: dict, layers: list[list[RawEntry]]) -> None:
    ours = dive_figures([[normalise(*entry) for entry in layer] for layer in layers])
    image = dive["image"]
    assert image["efficiencyScore"] == ours.efficiency
    assert image["inefficientBytes"] == ours.wasted_bytes
    assert image["sizeBytes"] == ours.size_bytes
    assert [layer["sizeBytes"] for layer in dive["layer"]] == list(ours.layer_sizes)
    # dive's JSON shows a path's invalid UTF-8 bytes as U+FFFD
    mine = sorted((_as_dive_shows(p.path), p.count, p.cumulative_size) for p in ours.inefficient)
    theirs = sorted((r["file"], r["count"], r["sizeBytes"]) for r in image["fileReference"])
    assert mine == theirs


@needs_dive
@pytest.mark.parametrize("seed", [27, 42, 62, 64, 141, 211, 258, 301])
def test_matches_dive_on_random_archives(tmp_path: Path, seed: int) -> None:
    layers = random_layers(seed)
    assert_same(dive_json(tmp_path, f"seed{seed}", layers), layers)


@needs_dive
@pytest.mark.parametrize("name", sorted(FIXED))
def test_matches_dive_on_quirks(tmp_path: Path, name: str) -> None:
    assert_same(dive_json(tmp_path, name, FIXED[name]), FIXED[name])


@needs_dive
def test_user_wasted_percent_matches_dive_ci_output(tmp_path: Path) -> None:
    layers = FIXED["overwrite-delete"]
    archive = tmp_path / "ci.tar"
    write_docker_archive(archive, layers)
    run = subprocess.run(
        [str(DIVE), "--source", "docker-archive", str(archive), "--ci"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    ours = dive_figures([[normalise(*entry) for entry in layer] for layer in layers])
    assert f"userWastedPercent: {ours.user_wasted_fraction * 100:.4f} %" in run.stdout
    assert f"efficiency: {ours.efficiency * 100:.4f} %" in run.stdout
