"""Safety limits for reading untrusted archives (FORMATS.md 32). Each has a CLI flag to raise it."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Every bound the reader enforces; `flag` names in messages are the CLI flags that raise them."""

    max_json_bytes: int = 8 * MiB  # manifest.json, index.json, a manifest, a config
    max_header_bytes: int = 1 * MiB  # one PAX or GNU long-name record
    max_entries: int = 5_000_000  # entries in one layer
    max_path_length: int = 4096  # bytes of one entry name
    max_path_depth: int = 256  # components of one entry name
    max_symlink_hops: int = 40  # when resolving symlinked parents
    max_index_depth: int = 8  # nested OCI indexes
    max_ratio: int = 1000  # decompressed bytes per stored byte of a layer (checked past 1 MiB)

    def check_ratio(self, decompressed: int, stored: int, what: str) -> None:
        if decompressed > MiB and decompressed > self.max_ratio * max(stored, 1):
            from .errors import LimitExceeded

            raise LimitExceeded(
                f"{what}: decompresses to over {self.max_ratio}x its stored size "
                f"(a decompression bomb?); raise with --max-ratio"
            )


DEFAULT_LIMITS = Limits()
