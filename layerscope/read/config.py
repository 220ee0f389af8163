"""The image config: diff_ids, history (attached to layers only where it lines up), runtime settings."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from layerscope.errors import FormatError

DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")


def shown(value: object) -> str:
    """A JSON value from the archive, short enough for a message (never the whole of a big
    structure: that could be megabytes, or nested too deep to print)."""
    if isinstance(value, str):
        return repr(value[:80])
    if value is None or isinstance(value, bool | int | float):
        return repr(value)[:80]
    return f"a JSON {type(value).__name__.replace('dict', 'object').replace('list', 'array')}"


def check_digest(value: object, what: str) -> str:
    if not isinstance(value, str) or not DIGEST_RE.fullmatch(value):
        raise FormatError(f"{what} is not a valid sha256 digest: {shown(value)}")
    return value


def json_object(value: object) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one (a field that is absent or malformed
    reads as having no keys)."""
    return value if isinstance(value, dict) else {}


def load_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"{what} is not valid JSON ({e})") from None
    except RecursionError:
        raise FormatError(f"{what} is not valid JSON (nested too deeply)") from None


@dataclass
class HistoryStep:
    created_by: str | None
    created: str | None
    author: str | None
    comment: str | None
    empty_layer: bool
    layer: int | None  # the layer this step made, or None (empty step, or history not lining up)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created_by": self.created_by,
            "created": self.created,
            "author": self.author,
            "comment": self.comment,
            "empty_layer": self.empty_layer,
            "layer": self.layer,
        }


@dataclass
class ImageConfig:
    diff_ids: list[str]
    history: list[HistoryStep]
    os: str
    architecture: str
    variant: str | None
    env: list[str] = field(default_factory=list)
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    workdir: str | None = None
    created: str | None = None
    history_aligned: bool = True
    raw: dict[str, Any] = field(default_factory=dict)
    _by_layer: dict[int, HistoryStep] | None = field(default=None, repr=False, compare=False)

    @property
    def platform(self) -> str:
        p = f"{self.os}/{self.architecture}"
        return f"{p}/{self.variant}" if self.variant else p

    def layer_step(self, layer: int) -> HistoryStep | None:
        if self._by_layer is None:  # one pass, not one per layer (history can be long)
            self._by_layer = {}
            for step in self.history:
                if step.layer is not None:
                    self._by_layer.setdefault(step.layer, step)
        return self._by_layer.get(layer)


def _str_or_none(v: object) -> str | None:
    return v if isinstance(v, str) else None


def _str_list(v: object) -> list[str] | None:
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return list(v)
    return None


def parse_config(data: bytes, what: str = "config") -> ImageConfig:
    doc = load_json(data, what)
    if not isinstance(doc, dict):
        raise FormatError(f"{what} is not a JSON object")
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise FormatError(f"{what} has no rootfs.diff_ids")
    diff_ids = [check_digest(d, f"{what}: a diff_id") for d in rootfs["diff_ids"]]
    raw_hist = doc.get("history") or []
    if not isinstance(raw_hist, list):
        raise FormatError(f"{what}: history is not a list")
    steps: list[HistoryStep] = []
    for h in raw_hist:
        if not isinstance(h, dict):
            raise FormatError(f"{what}: a history entry is not an object")
        steps.append(
            HistoryStep(
                created_by=_str_or_none(h.get("created_by")),
                created=_str_or_none(h.get("created")),
                author=_str_or_none(h.get("author")),
                comment=_str_or_none(h.get("comment")),
                empty_layer=bool(h.get("empty_layer", False)),
                layer=None,
            )
        )
    # Attach steps to layers only when the non-empty steps line up one to one with the layers:
    # a history that does not line up is shown as it is, never attributed (docs/formats.md 9).
    non_empty = [s for s in steps if not s.empty_layer]
    aligned = len(non_empty) == len(diff_ids)
    if aligned:
        for i, s in enumerate(non_empty):
            s.layer = i
    cfg = json_object(doc.get("config"))
    labels = json_object(cfg.get("Labels"))
    return ImageConfig(
        diff_ids=diff_ids,
        history=steps,
        os=_str_or_none(doc.get("os")) or "unknown",
        architecture=_str_or_none(doc.get("architecture")) or "unknown",
        variant=_str_or_none(doc.get("variant")),
        env=_str_list(cfg.get("Env")) or [],
        cmd=_str_list(cfg.get("Cmd")),
        entrypoint=_str_list(cfg.get("Entrypoint")),
        labels={
            str(k): v if isinstance(v, str) else str(v)
            for k, v in labels.items()
            if not isinstance(v, dict | list)
        },
        user=_str_or_none(cfg.get("User")) or None,
        workdir=_str_or_none(cfg.get("WorkingDir")) or None,
        created=_str_or_none(doc.get("created")),
        history_aligned=aligned or not steps,
        raw=doc,
    )
