"""The history of one path: every layer that touched it, and how (a removal spelt as the report
and every view spell how an entry went: a kinds.How label)."""

from __future__ import annotations

from dataclasses import dataclass

from layerscope.model.analysis import VISIBLE, pack
from layerscope.model.image import Image
from layerscope.model.kinds import NO_STATUS, How, Kind


@dataclass(frozen=True)
class PathStep:
    """What one layer did at the path."""

    layer: int
    action: str  # added | modified | metadata | rewritten | removed | hidden
    type: str | None
    size: int
    mode: int | None
    uid: int | None
    gid: int | None
    digest: str | None
    row: int | None  # the entry's row in `layer` (None for a removal)
    detail: str = ""  # for a removal, how (a kinds.How label: `whiteout`, `parent-whiteout`, ...)


def path_history(image: Image, path: str) -> list[PathStep]:
    """Each layer's doing at `path` (a real path in the image), bottom to top."""
    path = path.strip("/")
    a = image.analysis
    steps: list[PathStep] = []
    removed: dict[int, How] = {}
    for pos, layer in enumerate(image.layers):
        li = layer.index
        status = a.status[pos]
        for row in range(len(li)):
            code = status[row]
            if code == NO_STATUS:
                continue
            if a.real_path(pack(pos, row)) != path:
                continue
            e = li.entry(row)
            steps.append(
                PathStep(
                    pos,
                    Kind(code).label,
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
            if by != VISIBLE and a.how[pos][row] != How.OVERWRITTEN:
                removed.setdefault(by, How(a.how[pos][row]))
    action = Kind.REMOVED.label
    for by, how in removed.items():
        steps.append(PathStep(by, action, None, 0, None, None, None, None, None, how.label))
    # within a layer, removals come first: whiteouts act before the layer's own entries
    steps.sort(key=lambda s: (s.layer, s.action != action, s.row or 0))
    return steps
