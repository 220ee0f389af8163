"""Registry image references, parsed and normalised as docker does (github.com/distribution/
reference, normalize.go): `host[:port]/path[:tag][@digest]`, Docker Hub's short names
(`debian` is `docker.io/library/debian:latest`), and skopeo's `docker://` transport prefix."""

from __future__ import annotations

import re
from dataclasses import dataclass

from layerscope.errors import LayerscopeError

TRANSPORT = "docker://"  # skopeo's name for a registry image
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"  # where Docker Hub's distribution API answers
_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")

_ALNUM = r"[a-z0-9]+"
_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII)
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]{{1,5}})?", re.ASCII
)
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}", re.ASCII)
NAME_MAX = 255


@dataclass(frozen=True)
class Reference:
    """A registry image: where it lives (`domain`, as named; `host`, where its API answers),
    its repository, and a tag or a digest (a digest wins when both are given)."""

    domain: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def host(self) -> str:
        return DOCKER_HUB_API if self.domain == DOCKER_HUB else self.domain

    @property
    def wanted(self) -> str:
        """What the manifest is asked by: the digest, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = f"{self.domain}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def hostname(self) -> str:
        """The domain without its port (and without the brackets of an IPv6 address)."""
        host = self.domain
        if host.startswith("["):
            return host[1 : host.index("]")]
        return host.rsplit(":", 1)[0] if ":" in host else host

    @property
    def is_local(self) -> bool:
        """A registry on this machine: plain HTTP may be used, as podman does for localhost."""
        return self.hostname in ("localhost", "127.0.0.1", "::1")


def strip_transport(name: str) -> tuple[str, bool]:
    """(the name without `docker://`, whether it had it)."""
    if name.startswith(TRANSPORT):
        return name[len(TRANSPORT) :], True
    return name, False


def has_registry(name: str) -> bool:
    """Whether a name says which registry it is in: `docker://...`, or a first component that is
    a host (with a dot or a port: `ghcr.io/x`, `localhost:5000/x`). A bare `localhost/x` is how
    podman names images it built: those are saved by the engines, as before."""
    name, explicit = strip_transport(name)
    if explicit:
        return True
    first, slash, _rest = name.partition("/")
    if not slash or not _DOMAIN.fullmatch(first):
        return False
    return "." in first or ":" in first or first.startswith("[")


def parse(text: str) -> Reference:
    """A reference, normalised (Docker Hub's `library/` and host); one-line errors for the rest."""
    name, _explicit = strip_transport(text)
    if not name:
        raise LayerscopeError("an empty image reference", source=text)
    digest = None
    if "@" in name:
        name, digest = name.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise LayerscopeError(f"not an image digest: {digest!r}", source=text)
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise LayerscopeError(f"not an image tag: {tag!r}", source=text)
    first, slash_found, rest = name.partition("/")
    if slash_found and ("." in first or ":" in first or first.startswith("[") or
                        first == "localhost" or first.lower() != first):  # fmt: skip
        domain, path = first, rest
        if not _DOMAIN.fullmatch(domain):
            raise LayerscopeError(f"not a registry host: {domain!r}", source=text)
    else:
        domain, path = DOCKER_HUB, name
    if domain in _HUB_ALIASES:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _PATH.fullmatch(path) or len(f"{domain}/{path}") > NAME_MAX:
        raise LayerscopeError(
            "not an image name (lower-case path components: host[:port]/path[:tag][@digest])",
            source=text,
        )
    if tag is None and digest is None:
        tag = "latest"
    return Reference(domain, path, tag, digest)
