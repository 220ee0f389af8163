"""Safety limits for reading untrusted archives (FORMATS.md 32). Each has a CLI flag to raise it,
and every message that reports a crossed limit names that flag.

The defaults are far above what real images need (the JSON limit is containers/image's) and low
enough that no archive, however made, makes the reader allocate from a number it claims. Memory
does not grow with a layer's decompressed size (it streams), so the guard on time is the total
work: the bytes a layer makes the reader process (its tar, and the holes of its sparse files,
which are hashed as zeros) and the same summed over every layer of an archive, each use counted.
A ratio of decompressed to stored bytes is no guard (zero-filled files compress 10,000-fold in
real images); it stays available as `--max-ratio`, off by default."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from layerscope.errors import LimitExceeded

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB


@dataclass(frozen=True)
class Limits:
    """Every bound the reader enforces; `flag` names in messages are the CLI flags that raise them."""

    max_json_bytes: int = 4 * MiB  # manifest.json, index.json, a manifest, a config
    max_header_bytes: int = 1 * MiB  # one PAX or GNU long-name record, a sparse map, global PAX
    max_entries: int = 5_000_000  # entries in one layer; 4x that in all of an input's images
    max_members: int = 1_000_000  # members of the outer archive (the tar that holds the blobs)
    max_layers: int = 4096  # layers of all the images in one archive, each use counted
    max_path_length: int = 4096  # bytes of one entry name or link target (so 2048 components)
    max_symlink_hops: int = 40  # when resolving symlinks (outer archive, union filesystem)
    max_index_depth: int = 8  # nested OCI indexes
    max_layer_bytes: int = 256 * GiB  # tar bytes plus sparse holes of one layer
    max_archive_bytes: int = 1 * TiB  # the same, all layers of one input, each use counted
    max_ratio: int = 0  # decompressed bytes per stored byte, checked past 1 MiB; 0: off
    max_decoder_memory: int = 256 * MiB  # window of a zstd frame, dictionary of an xz stream

    def check_ratio(self, decompressed: int, stored: int, what: str) -> None:
        """`--max-ratio`, when set: `what` may not decompress to over that many times its
        stored size (checked past 1 MiB)."""
        ratio = self.max_ratio
        if ratio and decompressed > MiB and decompressed > ratio * max(stored, 1):
            raise LimitExceeded(
                f"{what} decompresses to over {ratio}x its stored size; raise with --max-ratio"
            )

    def check_layer_bytes(self, work: int) -> None:
        """A layer may make the reader process at most `--max-layer-bytes`."""
        if work > self.max_layer_bytes:
            raise LimitExceeded(layer_bytes_message(self.max_layer_bytes))

    def check_layer(self, work: int, stored: int) -> None:
        """What a layer made the reader process, against --max-layer-bytes and --max-ratio:
        for a layer index from the cache, so that it is refused as a read would be."""
        self.check_layer_bytes(work)
        self.check_ratio(work, stored, "the layer")

    def check_copy(self, written: int, read: int) -> None:
        """A compressed archive, decompressed to a temporary copy: within `--max-archive-bytes`
        (and `--max-ratio`, when set)."""
        if written > self.max_archive_bytes:
            raise LimitExceeded(
                f"the archive decompresses to over {size_text(self.max_archive_bytes)}; "
                "raise with --max-archive-bytes"
            )
        self.check_ratio(written, read, "the archive")


class ArchiveLimitExceeded(LimitExceeded):
    """`--max-archive-bytes` crossed: the layers of one input make the reader process too much
    (`archive_bytes_message` says so)."""


def layer_bytes_message(limit: int) -> str:
    """What a layer over `--max-layer-bytes` is told."""
    return (
        f"the layer holds over {size_text(limit)} (its tar and the holes of its sparse files); "
        "raise with --max-layer-bytes"
    )


def archive_bytes_message(limit: int) -> str:
    """What a layer that takes its input over `--max-archive-bytes` is told."""
    return (
        f"the layers of this input hold over {size_text(limit)} in all (tar bytes and sparse "
        "holes, each use of a layer counted); raise with --max-archive-bytes"
    )


def size_text(n: int) -> str:
    """A limit as a person reads it: `256 GiB` when it is a whole number of a binary unit, else
    `N bytes`."""
    for unit, scale in (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


class ArchiveBudget:
    """`--max-archive-bytes`: the work (tar bytes and sparse holes) the layers of each input make
    the reader process, each use of a layer counted. A layer's work is counted for every position
    that uses it, in the input of each; a read is given what is left (`left`) so that it stops as
    soon as the input crosses the limit, and an input that crossed it reads nothing more."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used: dict[str, int] = {}  # input -> work counted so far

    def left(self, uses: Mapping[str, int]) -> int:
        """The work one read of a blob may still do: `uses` maps each input to the number of
        positions in its images that use the blob."""
        shares = [(self.limit - self.used.get(src, 0)) // n for src, n in uses.items() if n]
        return max(0, min(shares, default=self.limit))

    def admit(self, uses: Mapping[str, int], work: int) -> None:
        """Count a blob's work in every input that uses it; ArchiveLimitExceeded (nothing
        counted, the inputs marked spent) if that takes one of them over the limit."""
        if any(self.used.get(src, 0) + n * work > self.limit for src, n in uses.items()):
            self.spend(uses)
            raise ArchiveLimitExceeded(archive_bytes_message(self.limit))
        for src, n in uses.items():
            self.used[src] = self.used.get(src, 0) + n * work

    def spend(self, uses: Mapping[str, int]) -> None:
        """Mark the inputs of a blob that crossed the limit: they read nothing more."""
        for src in uses:
            self.used[src] = max(self.used.get(src, 0), self.limit)


DEFAULT_LIMITS = Limits()
