"""Property: random layer stacks from the test builder, slimmed above a random number of kept
layers and re-read, keep the final filesystem entry for entry, the announced figures and the
kept layers' digests (slimcheck.slim_and_check)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from builder import Dir, File, Hardlink, Img, Layer, Opaque, Symlink, Whiteout, docker_archive
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slimcheck import slim_and_check

import layerscope

NAMES = ["a", "b", "c"]
paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join)
entry = st.one_of(
    st.tuples(st.just("file"), paths, st.integers(0, 3)),
    st.tuples(st.just("dir"), paths, st.integers(0, 1)),
    st.tuples(st.just("whiteout"), paths, st.just(0)),
    st.tuples(st.just("opaque"), st.one_of(st.just(""), paths), st.just(0)),
    st.tuples(st.just("symlink"), paths, st.integers(0, 1)),
    st.tuples(st.just("hardlink"), paths, st.sampled_from(NAMES)),
)
stacks = st.lists(st.lists(entry, max_size=6), min_size=1, max_size=4)


def _layer(entries: list[tuple]) -> Layer:
    out = []
    for kind, path, arg in entries:
        if kind == "file":  # contents and metadata that repeat: rewrites the plan can skip
            out.append(File(path, b"x" * (arg * 3), mode=0o600 if arg == 2 else 0o644, mtime=arg))
        elif kind == "dir":
            out.append(Dir(path, mode=0o755 if arg else 0o700))
        elif kind == "whiteout":
            out.append(Whiteout(path))
        elif kind == "opaque":
            out.append(Opaque(path))
        elif kind == "symlink":
            out.append(Symlink(path, "a" if arg else "../b"))
        else:
            out.append(Hardlink(path, arg))
    return Layer(*out, compression="gzip" if len(entries) % 2 else None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stacks,
    st.integers(0, 3),
    st.sampled_from(["docker-archive", "oci-archive"]),
    st.sampled_from(["overlay", "follow"]),
)
def test_slimmed_random_images_keep_the_final_filesystem(layers, keep, fmt, apply):
    with tempfile.TemporaryDirectory() as d:
        archive = docker_archive(Path(d) / "p.tar", [Img([_layer(x) for x in layers])])
        with layerscope.open(str(archive), apply=apply) as arch:
            img = arch.images[0]
            slim_and_check(img, min(keep, len(img.layers) - 1), Path(d) / "out.tar", fmt,
                           "gzip" if fmt == "oci-archive" else "none")  # fmt: skip
