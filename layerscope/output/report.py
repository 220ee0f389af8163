"""The JSON report of REPORT.md, written as a stream: a layer's `files` list is never held whole
as Python objects, so a 500,000-entry image reports in bounded memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

from layerscope.insight.compare import Comparison
from layerscope.insight.findings import findings
from layerscope.insight.sharing import sharing
from layerscope.model.analysis import layer_rows
from layerscope.model.gcpause import pausing
from layerscope.model.image import Image, Layer
from layerscope.output.jsontext import dumps
from layerscope.read.records import (
    F_META,
    FILE,
    HARDLINK,
    SYMLINK,
    TYPE_NAMES,
    LayerIndex,
    flag_names,
)
from layerscope.version import __version__

_dump = dumps  # strict JSON, valid Unicode; a name not UTF-8 also as `<key>_bytes`


def _file_json(li: LayerIndex, row: int, through_symlink: bool = False) -> str:
    """One entry of a layer's `files` list, as JSON text (`through_symlink`: overlay storage and
    a symlink-following applier place it at different paths)."""
    t = li.types[row]
    link = li.links.get(row) if t in (SYMLINK, HARDLINK) else None
    digest = None
    if t == FILE and not li.flags[row] & F_META:
        digest = "sha256:" + li.digest_at(row).hex()
    d = {
        "path": li.paths[row],
        "type": TYPE_NAMES[t],
        "size": li.sizes[row],
        "mode": f"{li.modes[row] & 0o7777:04o}",
        "uid": li.uids[row],
        "gid": li.gids[row],
        "link": link,
        "digest": digest,
    }
    if li.flags[row] or through_symlink:
        d["flags"] = flag_names(li.flags[row]) + (["through-symlink"] if through_symlink else [])
    return _dump(d)


def layer_dict(layer: Layer) -> dict[str, Any]:
    """A layer's report entry, without its `files` list."""
    return {
        "index": layer.position,
        "diff_id": layer.diff_id,
        "digest": layer.digest,
        "compression": layer.compression,
        "stored_size": layer.stored_size,
        "size": layer.size,
        "created_by": layer.created_by,
        "changes": layer.changes.as_dict(),
    }


def image_dict(img: Image, hidden: bool = True, with_findings: bool = True) -> dict[str, Any]:
    """An image's report entry, `layers` without their `files` lists (and its `hidden` and
    `findings` lists empty, but in their places, if not `hidden` / `with_findings`)."""
    cfg = img.config
    found = findings(img)
    d: dict[str, Any] = {
        "source": img.source,
        "ref": img.ref,
        "refs": list(img.refs),
        "config_digest": img.config_digest,
        "platform": img.platform,
        "format": img.spec.format,
        "apply": img.apply,
        "through_symlink": img.through_symlink,
        "layers": [layer_dict(layer) for layer in img.layers],
        "history": [h.as_dict() for h in img.history],
        "size": img.size,
        "final_size": img.final_size,
        "final_files": img.final_files,
        "reclaimable_bytes": img.reclaimable_bytes,
        "hidden": [h.as_dict() for h in img.hidden] if hidden else [],
        "duplicate_bytes": img.duplicate_bytes,
        "findings": [f.as_dict() for f in found.items] if with_findings else [],
        "findings_summary": found.summary(),
        "config": {
            "env": cfg.env,
            "cmd": cfg.cmd,
            "entrypoint": cfg.entrypoint,
            "labels": cfg.labels,
            "user": cfg.user,
            "workdir": cfg.workdir,
            "created": cfg.created,
        },
    }
    d["dive"] = img.dive.as_report()  # NaN / Infinity are not JSON: they become null
    if img.spec.notes:
        d["notes"] = list(img.spec.notes)
    return d


@pausing  # a million entries alive: the collector would walk them for each few objects made
def write_report(
    out: IO[str],
    images: Sequence[Image],
    *,
    files: bool = True,
    comparison: Comparison | None = None,
) -> None:
    """Write the report of REPORT.md for `images` (all loaded) to `out`."""
    w = out.write
    w('{"layerscope": ' + _dump(__version__) + ', "images": [')
    for n, img in enumerate(images):
        if n:
            w(", ")
        d = image_dict(img, hidden=False, with_findings=False)
        layers = d.pop("layers")
        # the hidden entries and the findings streamed in their places, as the files are: not
        # held as objects
        keys = list(d)
        at, fat = keys.index("hidden"), keys.index("findings")
        w(_dump({k: d[k] for k in keys[:at]})[:-1] + ', "hidden": [')
        for j, hidden in enumerate(img.hidden):
            w(", " + _dump(hidden.as_dict()) if j else _dump(hidden.as_dict()))
        w("], " + _dump({k: d[k] for k in keys[at + 1 : fat]})[1:-1] + ', "findings": [')
        for j, finding in enumerate(findings(img).items):
            w(", " + _dump(finding.as_dict()) if j else _dump(finding.as_dict()))
        w("], " + _dump({k: d[k] for k in keys[fat + 1 :]})[1:-1] + ', "layers": [')
        for i, (ld, layer) in enumerate(zip(layers, img.layers, strict=True)):
            if i:
                w(", ")
            if files:
                body = _dump(ld)[:-1]
                w(body + ', "files": [')
                li = layer.index
                through = layer_rows(img.through_symlink_refs, layer.position)
                for row in range(len(li)):
                    if row:
                        w(", ")
                    w(_file_json(li, row, row in through))
                w("]}")
            else:
                w(_dump(ld))
        w("]}")
    w('], "sharing": ')
    w(_dump(sharing(images).as_dict()))
    if comparison is not None:
        w(', "compare": ')
        w(_dump(comparison.as_dict()))
    w("}\n")
