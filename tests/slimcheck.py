"""Checks shared by the slim tests: an image's final filesystem entry for entry, and the
invariants a slimmed image must keep (written, then re-read with layerscope)."""

from __future__ import annotations

import os

import layerscope
from layerscope.model.analysis import IMPLIED, unpack
from layerscope.read.records import HARDLINK
from layerscope.write.imagefiles import write_image
from layerscope.write.plan import OVERLAY_XATTRS, options, plan

MADE_DIR = ("dir", 0, 0o755, 0, 0, 0, None, None, (), None)  # what slim writes for an implied dir


def final_view(img) -> dict[str, tuple]:
    """Every path of the final filesystem: (type, size, mode, uid, gid, mtime, link, content
    digest, xattrs, device), a hardlink with its target file's size and digest; implied
    directories as ("implied",)."""
    a = img.analysis
    out: dict[str, tuple] = {}
    for path, ref in a.final.items():
        if ref == IMPLIED:
            out[path] = ("implied",)
            continue
        pos, row = unpack(ref)
        li = img.layers[pos].index
        e = li.entry(row)
        size, digest = e.size, e.digest
        if li.types[row] == HARDLINK:
            target = a.hardlink_targets.get(ref)
            if target is not None:
                tp, tr = unpack(target)
                t = img.layers[tp].index.entry(tr)
                size, digest = t.size, t.digest
        extra = li.extras.get(row) or {}
        xattrs = tuple(
            sorted(
                (k, v) for k, v in (extra.get("xattrs") or {}).items() if k not in OVERLAY_XATTRS
            )
        )
        dev = (extra["devmajor"], extra["devminor"]) if "devmajor" in extra else None
        link = e.link if e.type != "hardlink" else ("=", e.link)
        out[path] = (e.type, size, e.mode & 0o7777, e.uid, e.gid, e.mtime, link, digest, xattrs,
                     dev if e.type in ("char", "block") else None)  # fmt: skip
    return out


def hardlink_groups(img) -> set[frozenset[str]]:
    """The sets of final paths that are one file (a file and its hardlinks, or hardlinks to
    a removed file)."""
    a = img.analysis
    groups: dict[int, set[str]] = {}
    for path, ref in a.final.items():
        if ref == IMPLIED:
            continue
        target = a.hardlink_targets.get(ref)
        if target is not None:
            groups.setdefault(target, set()).add(path)
    for target, paths in groups.items():
        where = a.real_path(target)
        if a.final.get(where) == target:
            paths.add(where)
    return {frozenset(p) for p in groups.values() if len(p) > 1}


def assert_same_final(src, out) -> None:
    """The two final filesystems are equal entry for entry: an implied directory may be
    written as a plain one (MADE_DIR), a hardlink whose target file is gone may be written as
    the file itself (its group kept), every other field is equal."""
    a, b = final_view(src), final_view(out)
    assert set(a) == set(b), (sorted(set(a) - set(b))[:5], sorted(set(b) - set(a))[:5])
    for path, want in a.items():
        got = b[path]
        if want == ("implied",) and got in (("implied",), MADE_DIR):
            continue
        if want[0] == "hardlink" and want[7] is None:
            # a hardlink that names no file in the source (no engine extracts it): written as
            # it was, what it names in the written image is not compared
            assert got[0] == "hardlink" and got[2:7] == want[2:7], path
            continue
        if want[0] == "hardlink" and got[0] in ("file", "hardlink") and want[6] != got[6]:
            assert want[1:6] + want[7:] == got[1:6] + got[7:], path
            continue
        assert got == want, (path, want, got)
    assert hardlink_groups(src) == hardlink_groups(out)


def slim_and_check(img, keep: int, dest, fmt: str = "docker-archive",
                   compression: str = "none") -> None:  # fmt: skip
    """Slim `img` above `keep` layers into `dest`, re-read it, and check every invariant."""
    p = plan(img, keep)
    o = options(img)[keep]  # the table of every --keep says the same, computed its own way
    assert (o.saved, o.squashed_bytes) == (p.saved, p.squashed_size)
    result = write_image(img, p, os.fspath(dest), fmt=fmt, compression=compression,
                         tag="localhost/slim-test:1")  # fmt: skip
    with layerscope.open(os.fspath(dest), apply=img.apply) as arch:
        out = arch.images[0]
        assert len(out.layers) == keep + 1
        for old, new in zip(img.layers[:keep], out.layers, strict=False):
            assert new.digest == old.digest and new.diff_id == old.diff_id
        assert out.layers[-1].diff_id == result.squashed.diff_id
        assert out.layers[-1].digest == result.squashed.digest
        assert out.layers[-1].stored_size == result.squashed.blob_size
        assert out.layers[-1].index.tar_size == result.squashed.tar_size
        assert_same_final(img, out)
        # the figures announced are the written image's
        assert out.size == p.size_after
        assert img.size - out.size == p.saved
        assert out.reclaimable_bytes == p.reclaimable_after
        assert out.final_size == img.final_size
        # the config: what ran stays, history matches the layers
        assert out.config.env == img.config.env and out.config.cmd == img.config.cmd
        assert out.config.entrypoint == img.config.entrypoint
        assert out.config.labels == img.config.labels
        assert out.config.user == img.config.user and out.config.workdir == img.config.workdir
        assert out.config.history_aligned == img.config.history_aligned
        assert len(out.history) == len(img.history) + 1
        assert out.history[-1].created_by.startswith("layerscope slim:")
        assert out.refs == ["localhost/slim-test:1"]
