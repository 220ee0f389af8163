"""An image's figures and analysis, kept in the cache (cache.py) so re-opening an image computes
nothing again.

The key is made of the keys of the image's layers, in order (each names a layer's content: its
diff_id, digest and size, see `cache.layer_key`), the symlink-hop limit, the only other input of
the analysis, and layerscope's version: the same layers always give the same figures. Each entry
carries that key's text, checked when it is read, so an entry copied onto another image's name is
refused. Two kinds of entry:

- `fig`: what the report and the panes show (each layer's size and changes, the final size and
  files, the duplicates, the hidden entries, dive's figures): a few kilobytes to megabytes, enough
  for `--json --no-files` and `--ci` without the analysis (`figures.Figures`);
- `ana`: the analysis itself (statuses, hiding, the final filesystem as refs), for the UI
  (`analysis.Analysis`).

This module only stores and loads plain values under keys: their plain forms are made and read
by figures.py and analysis.py, for the image (image.py).
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from layerscope.model.cache import FORMAT, LayerCache, entry_name
from layerscope.version import __version__

T = TypeVar("T")

FIGURES = "fig"  # the kind of entry that holds an image's figures (figures.Figures)
ANALYSIS = "ana"  # the kind that holds its analysis (analysis.Analysis)


def image_key(layer_keys: Sequence[str], max_symlink_hops: int, apply: str = "overlay") -> str:
    """The key of an image's entries: its layers' keys (by their names), the symlink-hop limit,
    how the layers are applied (`--apply`), and the version of layerscope (a new version may
    compute a figure otherwise). The entries carry this text, checked on read (cache.py): an
    entry copied onto another image's name is refused."""
    names = ",".join(entry_name(k) for k in layer_keys)
    return f"{FORMAT}|{__version__}|{max_symlink_hops}|{apply}|{names}"


class ImageMemo:
    """The cache entries of one image: plain values (marshal's types) stored and loaded under
    its key, one entry of each kind. What the values mean is the image's business (image.py)."""

    def __init__(self, cache: LayerCache, key: str) -> None:
        self.cache = cache
        self.key = key
        self.held: set[str] = set()  # the kinds found or stored: not to be written again

    def holds(self, kind: str) -> bool:
        """Whether the entry of `kind` was found or stored by this memo."""
        return kind in self.held

    def load(self, kind: str, decode: Callable[[Any], T]) -> T | None:
        """The entry of `kind`, made by `decode` from its plain values; None when there is none,
        or when it does not decode (from another version, or damaged in a way the CRC missed):
        then it is removed."""
        payload = self.cache.read(self.key, kind)
        if payload is None:
            return None
        try:
            value = decode(marshal.loads(payload))
        except Exception:
            self.cache.forget(self.key, kind)
            return None
        self.held.add(kind)
        return value

    def store(self, kind: str, plain: Any) -> None:
        """Store plain values as the entry of `kind`, unless this memo found or stored it."""
        if kind not in self.held:
            self.cache.write(self.key, kind, marshal.dumps(plain))
            self.held.add(kind)
