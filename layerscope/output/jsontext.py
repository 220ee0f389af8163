"""The JSON text of the report: strict JSON and valid Unicode, with no name's bytes lost.

Names in a tar are bytes. The reader decodes them as UTF-8 with surrogate escapes (formats.md
27): each byte that is not part of a valid UTF-8 sequence becomes a lone surrogate U+DC80-U+DCFF,
so no byte is lost. A lone surrogate is not Unicode, though: written as a `\\udcXX` escape it is
shown as U+FFFD, or refused, by most JSON tools, and a name can no longer be matched back to the
archive. So the report (docs/report.md, "text encoding") writes every string as valid Unicode,
each lone surrogate replaced by U+FFFD, and gives every name that was not valid UTF-8 a sibling
key with its exact bytes in base64: `path` and `path_bytes`, `link` and `link_bytes`, `source`
and `source_bytes`, and for a list of names, `paths` and `paths_bytes` (one item per name,
`null` for a name that was valid UTF-8).

`dumps` is the one encoder of the report. Its cost on ordinary text is one substring search of
the encoded text: only a document whose text holds a `\\ud` escape is walked and encoded again,
so a report of UTF-8 names is byte for byte what `json` writes.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

_encode = json.JSONEncoder(ensure_ascii=True).encode

NAME_KEYS = frozenset({"path", "link", "source"})  # a name: `<key>_bytes` when not UTF-8
NAME_LIST_KEYS = frozenset({"paths"})  # a list of names: `<key>_bytes`, a list as long
FREE_FORM_KEYS = frozenset({"labels"})  # the image's own data: its keys are no report keys
BYTES_SUFFIX = "_bytes"
REPLACEMENT = "\ufffd"

_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """`text` as valid Unicode: every lone surrogate (an undecodable byte kept by surrogate
    escapes, or a lone `\\udXXX` escape read from an image's JSON) replaced by U+FFFD."""
    if text.isascii():
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def exact_bytes(name: str) -> bytes | None:
    """The exact bytes of a name that was not valid UTF-8; None for one that was, and for a
    string whose lone surrogates stand for no byte (they came from a JSON escape)."""
    if name.isascii():
        return None
    try:
        name.encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return None


def name_fields(key: str, name: str) -> dict[str, str]:
    """`{key: valid text}`, with `{key_bytes: base64 of the exact bytes}` when not UTF-8."""
    raw = exact_bytes(name)
    if raw is None:
        return {key: valid_text(name)}
    return {key: valid_text(name), key + BYTES_SUFFIX: _base64(raw)}


def dumps(obj: Any) -> str:
    """`obj` as strict, pure-ASCII JSON text in which every string is valid Unicode."""
    text = _encode(obj)
    if "\\ud" not in text:  # no surrogate escape (nor a name holding a literal `\ud`)
        return text
    return _encode(_valid(obj))


def _base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _valid(value: Any, names: bool = True) -> Any:
    """`value` with valid text everywhere; with `names`, name keys get their `_bytes` keys."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return _valid_dict(value) if names else _valid_data(value)
    if isinstance(value, list | tuple):
        return [_valid(v, names) for v in value]
    return value


def _valid_dict(d: dict[Any, Any]) -> dict[Any, Any]:
    """A report object: its names split into valid text and exact bytes."""
    out: dict[Any, Any] = {}
    for key, value in d.items():
        if key in NAME_KEYS and isinstance(value, str):
            out.update(name_fields(key, value))
        elif key in NAME_LIST_KEYS and isinstance(value, list):
            out.update(_name_list(key, value))
        else:
            names = key not in FREE_FORM_KEYS
            out[valid_text(key) if isinstance(key, str) else key] = _valid(value, names)
    return out


def _valid_data(d: dict[Any, Any]) -> dict[Any, Any]:
    """An object of the image's own data (labels): only made valid text, keys and values."""
    return {(valid_text(k) if isinstance(k, str) else k): _valid(v, False) for k, v in d.items()}


def _name_list(key: str, names: list[Any]) -> dict[str, list[Any]]:
    """`{key: valid texts}`, with `{key_bytes: [base64 or None, ...]}` when a name is not UTF-8."""
    raws = [exact_bytes(n) if isinstance(n, str) else None for n in names]
    out: dict[str, list[Any]] = {key: [_valid(n) for n in names]}
    if any(r is not None for r in raws):
        out[key + BYTES_SUFFIX] = [None if r is None else _base64(r) for r in raws]
    return out
