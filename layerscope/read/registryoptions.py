"""How registries are reached, as the command line says (credentials, insecure hosts, offline),
and which inputs name a registry image: what the rest of layerscope needs to know of
registries without loading HTTP and TLS (read/registry.py does, when an input is one)."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from layerscope.errors import LayerscopeError
from layerscope.read.reference import has_registry, strip_transport
from layerscope.read.sources import looks_like_reference


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password=<hidden>)"

    def basic(self) -> str:
        raw = f"{self.user}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def parse_creds(text: str, password: str | None = None) -> Credentials:
    """`--creds USER[:PASS]` (the password may come separately, from standard input)."""
    user, colon, pw = text.partition(":")
    if not user:
        raise LayerscopeError("--creds: give USER[:PASSWORD]")
    if not colon:
        if password is None:
            raise LayerscopeError("--creds USER: the password is read from standard input")
        pw = password
    return Credentials(user, pw)


class DocStore(Protocol):
    """Where fetched documents are kept between runs (the cache): content-addressed documents
    under `doc|<digest>`, and what a reference named last under `ref|<reference>`."""

    def read_doc(self, key: str) -> bytes | None: ...

    def write_doc(self, key: str, data: bytes) -> None: ...


class BlobWriter(Protocol):
    """A blob being kept: its pieces as they come, then kept (`commit`) or let go."""

    def write(self, piece: bytes) -> bool: ...

    def commit(self) -> bool: ...

    def discard(self) -> None: ...


class BlobKeeper(Protocol):
    """Where layer blobs are kept when the user asks (`--keep-blobs`: the cache)."""

    def start(self, digest: str) -> BlobWriter | None:
        """Somewhere to write a blob as it streams in, or None."""

    def open(self, digest: str, size: int, start: int, since: float = 0.0) -> BinaryIO | None:
        """A kept blob's bytes from `start` on, or None (`since`: one kept after this time
        needs no check)."""

    def has(self, digest: str) -> bool:
        """Whether a blob is kept."""

    def forget(self, digest: str) -> None:
        """Let go of a kept blob."""


@dataclass
class RegistryOptions:
    """How registries are reached: credentials given on the command line (else those of the
    auth files), hosts where plain HTTP or an untrusted certificate is allowed, and whether to
    use the cache alone."""

    creds: Credentials | None = field(default=None, repr=False)
    insecure: frozenset[str] = frozenset()
    offline: bool = False
    keep_blobs: bool = False
    docs: DocStore | None = field(default=None, repr=False)
    keeper: BlobKeeper | None = field(default=None, repr=False)


def wants_registry(name: str, engine: str | None) -> bool:
    """Whether an input names a registry image: `--source registry`, `docker://REF`, or (with
    no --source) a reference whose first component is a registry host, when no file has that
    name."""
    if engine == "registry" or strip_transport(name)[1]:
        return True
    return (
        engine is None
        and has_registry(name)
        and looks_like_reference(name)  # `build.d/app.tar` is a missing file, not an image
        and not os.path.lexists(name)
    )
