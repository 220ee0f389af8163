"""The errors layerscope raises for bad input: each carries a one-line message for the user."""

from __future__ import annotations


class LayerscopeError(Exception):
    """Bad input or an impossible request: the CLI prints `layerscope: <input>: <message>`, exit 2."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source

    def with_source(self, source: str) -> LayerscopeError:
        if self.source is None:
            self.source = source
        return self

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


class FormatError(LayerscopeError):
    """The input is not a saved image, or its structure is inconsistent."""


class TarError(FormatError):
    """A tar stream is corrupt, truncated or not a tar at all."""


class CompressionError(FormatError):
    """A compressed stream is corrupt or truncated."""


class DigestMismatch(LayerscopeError):
    """A blob's digest or a layer's diff_id does not match what the image says."""


class LimitExceeded(LayerscopeError):
    """A safety limit was crossed; the message names the flag that raises it."""


class Cancelled(Exception):
    """Work was cancelled by its caller: reading a layer, building a view (e.g. the app quit
    meanwhile, or moved on to another layer)."""
