"""Safety limits for reading untrusted archives (FORMATS.md 32). Each has a CLI flag to raise it,
and every message that reports a crossed limit names that flag.

The defaults are far above what real images need (the JSON limit is containers/image's) and low
enough that no archive, however made, makes the reader allocate from a number it claims, or work
for longer than its bytes justify (at most `max_ratio` times its stored size)."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Every bound the reader enforces; `flag` names in messages are the CLI flags that raise them."""

    max_json_bytes: int = 4 * MiB  # manifest.json, index.json, a manifest, a config
    max_header_bytes: int = 1 * MiB  # one PAX or GNU long-name record, a sparse map, global PAX
    max_entries: int = 5_000_000  # entries in one layer; 4x that in all of an input's images
    max_members: int = 1_000_000  # members of the outer archive (the tar that holds the blobs)
    max_layers: int = 4096  # layers of all the images in one archive, each use counted
    max_path_length: int = 4096  # bytes of one entry name or link target
    max_path_depth: int = 256  # components of one entry name
    max_symlink_hops: int = 40  # when resolving symlinks (outer archive, union filesystem)
    max_index_depth: int = 8  # nested OCI indexes
    max_ratio: int = 1000  # decompressed bytes per stored byte (checked past 1 MiB)
    max_decoder_memory: int = 256 * MiB  # window of a zstd frame, dictionary of an xz stream

    def check_ratio(self, decompressed: int, stored: int, what: str) -> None:
        if decompressed > MiB and decompressed > self.max_ratio * max(stored, 1):
            from layerscope.errors import LimitExceeded

            raise LimitExceeded(
                f"{what} decompresses to over {self.max_ratio}x its stored size "
                f"(a decompression bomb?); raise with --max-ratio"
            )


DEFAULT_LIMITS = Limits()
