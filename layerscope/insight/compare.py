"""Compare the final filesystems of two images: paths added, removed and changed, with sizes."""

from __future__ import annotations

from dataclasses import dataclass, field

from layerscope.model.analysis import unpack
from layerscope.model.image import Image
from layerscope.read.records import Entry


@dataclass(frozen=True)
class PathChange:
    path: str
    kind: str  # added | removed | changed
    type: str  # type in the second image (the first for removed)
    size_a: int  # regular-file size in the first image (0 if absent or not a file)
    size_b: int
    what: tuple[str, ...] = ()  # for changed: content, type, mode, owner, link

    def as_dict(self) -> dict:
        d = {"path": self.path, "type": self.type, "size_a": self.size_a, "size_b": self.size_b}
        if self.what:
            d["what"] = list(self.what)
        return d


@dataclass
class Comparison:
    a: str
    b: str
    added: list[PathChange] = field(default_factory=list)
    removed: list[PathChange] = field(default_factory=list)
    changed: list[PathChange] = field(default_factory=list)

    @property
    def added_bytes(self) -> int:
        return sum(c.size_b for c in self.added)

    @property
    def removed_bytes(self) -> int:
        return sum(c.size_a for c in self.removed)

    @property
    def changed_bytes_delta(self) -> int:
        return sum(c.size_b - c.size_a for c in self.changed)

    def as_dict(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "added": [c.as_dict() for c in self.added],
            "removed": [c.as_dict() for c in self.removed],
            "changed": [c.as_dict() for c in self.changed],
            "added_bytes": self.added_bytes,
            "removed_bytes": self.removed_bytes,
            "changed_bytes_delta": self.changed_bytes_delta,
        }


def _size(e: Entry | None) -> int:
    return e.size if e is not None and e.type == "file" else 0


def _content(img: Image, path: str, e: Entry) -> tuple:
    if e.type == "hardlink":
        ref = img.analysis.final[path]
        target = img.analysis.content_ref(ref)
        if target != ref:
            pos, row = unpack(target)
            return ("file", img.layers[pos].index.entry(row).digest)
    if e.type == "file":
        return ("file", e.digest)
    return (e.type, e.link)


def compare(a: Image, b: Image) -> Comparison:
    """What changed from image `a` to image `b`, path by path (directories by metadata only)."""
    fa = dict(a.final_entries())
    fb = dict(b.final_entries())
    out = Comparison(a.name, b.name)
    for path in sorted(fa.keys() | fb.keys()):
        if path not in fa:
            eb = fb[path]
            out.added.append(PathChange(path, "added", eb.type if eb else "dir", 0, _size(eb)))
            continue
        if path not in fb:
            ea = fa[path]
            out.removed.append(PathChange(path, "removed", ea.type if ea else "dir", _size(ea), 0))
            continue
        ea, eb = fa[path], fb[path]
        if ea is not None and eb is not None:  # None: an implied directory, no entry to compare
            what = []
            if ea.type != eb.type:
                what.append("type")
            elif _content(a, path, ea) != _content(b, path, eb):
                what.append("link" if ea.type == "symlink" else "content")
            if ea.mode & 0o7777 != eb.mode & 0o7777:
                what.append("mode")
            if (ea.uid, ea.gid) != (eb.uid, eb.gid):
                what.append("owner")
            if what:
                out.changed.append(
                    PathChange(path, "changed", eb.type, _size(ea), _size(eb), tuple(what))
                )
    return out
