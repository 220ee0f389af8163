"""The history of one path: every layer that touched it, and how."""

from __future__ import annotations

from dataclasses import dataclass

from layerscope.model.filesystem import HOW_NAMES, NO_STATUS, STATUS_NAMES, pack
from layerscope.model.image import Image


@dataclass(frozen=True)
class PathStep:
    layer: int
    action: str  # added | modified | metadata | rewritten | removed | hidden
    type: str | None
    size: int
    mode: int | None
    uid: int | None
    gid: int | None
    digest: str | None
    row: int | None  # the entry's row in `layer` (None for a removal)
    detail: str = ""  # e.g. "whiteout", "with its directory", "hidden by layer 3"


def path_history(image: Image, path: str) -> list[PathStep]:
    """Each layer's doing at `path` (a real path in the image), bottom to top."""
    path = path.strip("/")
    a = image.analysis
    steps: list[PathStep] = []
    removed: dict[int, str] = {}
    for pos, layer in enumerate(image.layers):
        li = layer.data
        status = a.status[pos]
        for row in range(len(li)):  # type: ignore[arg-type]
            code = status[row]
            if code == NO_STATUS:
                continue
            if a.real_path(pack(pos, row)) != path:
                continue
            e = li.entry(row)  # type: ignore[union-attr]
            steps.append(
                PathStep(
                    pos,
                    STATUS_NAMES[code],
                    e.type,
                    e.size,
                    e.mode & 0o7777,
                    e.uid,
                    e.gid,
                    e.digest,
                    row,
                )
            )
            by = a.hidden_by[pos][row]
            how = HOW_NAMES[a.how[pos][row]]
            if by != -1 and how != "overwritten":
                removed.setdefault(by, how or "")
    for by, how in removed.items():
        detail = {
            "whiteout": "deleted",
            "parent-whiteout": "deleted with its directory",
            "opaque": "cleared by an opaque directory",
            "type-change": "replaced by another type",
            "parent-replaced": "its directory was replaced",
        }.get(how, how)
        steps.append(PathStep(by, "removed", None, 0, None, None, None, None, None, detail))
    # within a layer, removals come first: whiteouts act before the layer's own entries
    steps.sort(key=lambda s: (s.layer, s.action != "removed", s.row or 0))
    return steps
