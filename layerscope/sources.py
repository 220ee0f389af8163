"""Access to the container of images: a tar (seekable, spooled if compressed or piped) or a
directory. Members are found by name, outer-tar symlinks resolved inside the archive (FORMATS.md 3,
30), and every blob is handed out as a region of a file on disk, so layers can be read anywhere,
in any process, without copying."""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from . import compression
from .errors import FormatError, LayerscopeError, LimitExceeded
from .layerreader import BlobLocation
from .limits import DEFAULT_LIMITS, Limits
from .tarstream import FileStream, iter_members


@dataclass(frozen=True)
class Member:
    type: str
    offset: int
    size: int
    link: str | None


class Source:
    """A container of images: named members, each readable as a region of a file."""

    name: str  # what the user gave, for messages and the report

    def __init__(self, name: str, limits: Limits) -> None:
        self.name = name
        self.limits = limits
        self._cleanup: list[str] = []

    def exists(self, path: str) -> bool:
        try:
            self.locate(path)
        except FormatError:
            return False
        return True

    def locate(self, path: str) -> BlobLocation:
        raise NotImplementedError

    def read_json_bytes(self, path: str) -> bytes:
        loc = self.locate(path)
        if loc.size > self.limits.max_json_bytes:
            raise LimitExceeded(
                f"{path} is {loc.size} bytes, over the JSON limit of "
                f"{self.limits.max_json_bytes}; raise with --max-json-bytes"
            )
        with open(loc.file, "rb") as f:
            f.seek(loc.offset)
            return f.read(loc.size)

    def names(self) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        for path in self._cleanup:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._cleanup.clear()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def clean_member_path(path: str) -> str:
    """A path inside the archive, normalised; refuses absolute paths and `..` (FORMATS.md 30)."""
    if path.startswith("/") or "\0" in path:
        raise FormatError(f"path {path!r} leaves the archive")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise FormatError(f"path {path!r} leaves the archive")
        parts.append(part)
    if not parts:
        raise FormatError(f"path {path!r} names no file")
    return "/".join(parts)


def _join_inside(base: str, target: str, what: str) -> str:
    """A symlink target resolved relative to its directory; `..` may not climb out of the archive."""
    parts = [p for p in base.split("/") if p not in ("", ".")]
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise FormatError(f"{what} is a symlink that leaves the archive ({target})")
            parts.pop()
            continue
        parts.append(part)
    if not parts:
        raise FormatError(f"{what} is a symlink to the archive root")
    return "/".join(parts)


class TarSource(Source):
    """A tar file on disk (plain: compressed input is spooled first)."""

    def __init__(self, name: str, file: str, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(name, limits)
        self.file = file
        self.members: dict[str, Member] = {}
        with open(file, "rb") as f:
            for m in iter_members(FileStream(f), limits):
                path = m.name.decode("utf-8", "surrogateescape")
                norm = "/".join(p for p in path.split("/") if p not in ("", "."))
                if not norm:
                    continue
                link = m.linkname.decode("utf-8", "surrogateescape") if m.linkname else None
                self.members[norm] = Member(m.type, m.data_offset, m.stored, link)

    def names(self) -> list[str]:
        return list(self.members)

    def _resolve(self, path: str) -> Member:
        path = clean_member_path(path)
        for _ in range(self.limits.max_symlink_hops + 1):
            m = self.members.get(path)
            if m is None:
                # a parent directory may itself be a symlink in the archive
                m, path = self._resolve_parents(path)
                if m is None:
                    raise FormatError(f"{path} is missing from the archive")
            if m.type == "symlink":
                target = m.link or ""
                if target.startswith("/"):
                    raise FormatError(f"{path} is a symlink to an absolute path ({target})")
                path = _join_inside(posixpath.dirname(path), target, path)
                continue
            if m.type == "hardlink":
                path = clean_member_path(m.link or "")
                continue
            if m.type != "file":
                raise FormatError(f"{path} is a {m.type} in the archive, not a file")
            return m
        raise LimitExceeded(f"{path}: too many symlink hops in the archive")

    def _resolve_parents(self, path: str) -> tuple[Member | None, str]:
        parts = path.split("/")
        for i in range(len(parts) - 1, 0, -1):
            parent = "/".join(parts[:i])
            m = self.members.get(parent)
            if m is not None and m.type == "symlink" and m.link and not m.link.startswith("/"):
                base = _join_inside(posixpath.dirname(parent), m.link, parent)
                newpath = clean_member_path(base + "/" + "/".join(parts[i:]))
                return self.members.get(newpath), newpath
        return None, path

    def locate(self, path: str) -> BlobLocation:
        m = self._resolve(path)
        return BlobLocation(self.file, m.offset, m.size)


class DirSource(Source):
    """An image layout on disk (OCI layout directory, podman docker-dir)."""

    def __init__(self, name: str, root: str, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(name, limits)
        self.root = os.path.realpath(root)

    def names(self) -> list[str]:
        out = []
        for dirpath, _dirs, files in os.walk(self.root):
            rel = os.path.relpath(dirpath, self.root)
            for fn in files:
                out.append(fn if rel == "." else f"{rel}/{fn}")
        return out

    def locate(self, path: str) -> BlobLocation:
        path = clean_member_path(path)
        full = os.path.realpath(os.path.join(self.root, path))
        if not (full + os.sep).startswith(self.root + os.sep):
            raise FormatError(f"{path} leaves the image directory")
        if not os.path.isfile(full):
            raise FormatError(f"{path} is missing from the image directory")
        return BlobLocation(full, 0, os.path.getsize(full))


def _spool(stream: BinaryIO, label: str, limits: Limits) -> str:
    """Copy a stream to a temporary file, decompressing it if it is compressed."""
    fd, tmp = tempfile.mkstemp(prefix="layerscope-", suffix=".tar")
    try:
        with os.fdopen(fd, "wb") as out:
            head = stream.read(6)
            kind = compression.detect(head)

            def raw():
                if head:
                    yield head
                while chunk := stream.read(compression.CHUNK):
                    yield chunk

            read = written = 0

            def counted():
                nonlocal read
                for chunk in raw():
                    read += len(chunk)
                    yield chunk

            for chunk in compression.decompress(counted(), kind):
                written += len(chunk)
                if kind != compression.NONE:
                    limits.check_ratio(written, read, "the archive")
                out.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def open_source(name: str, *, engine: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Source:
    """Open what the user named: `-` (standard input), a file, a directory, or an image name
    that an engine (docker, podman) saves for us. `engine` is `archive`, `docker` or `podman`."""
    if name == "-":
        tmp = _spool(sys.stdin.buffer, "standard input", limits)
        return _tar_source(name, tmp, owned=True, limits=limits)
    if engine in (None, "archive") and os.path.isdir(name):
        return DirSource(name, name, limits)
    if engine in (None, "archive") and os.path.exists(name):
        with open(name, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # a pipe: <(docker save app)
                tmp = _spool(f, name, limits)
                return _tar_source(name, tmp, owned=True, limits=limits)
            kind = compression.detect(f.read(6))
            if kind != "none":
                f.seek(0)
                tmp = _spool(f, name, limits)
                return _tar_source(name, tmp, owned=True, limits=limits)
        return _tar_source(name, name, owned=False, limits=limits)
    if engine == "archive":
        raise LayerscopeError("no such file or directory", source=name)
    return _save_with_engine(name, engine, limits)


def _tar_source(name: str, file: str, *, owned: bool, limits: Limits) -> TarSource:
    try:
        src = TarSource(name, file, limits)
    except BaseException:
        if owned:
            os.unlink(file)
        raise
    if owned:
        src._cleanup.append(file)
    return src


def _save_with_engine(name: str, engine: str | None, limits: Limits) -> TarSource:
    engines = [engine] if engine else ["docker", "podman"]
    found = [e for e in engines if shutil.which(e)]
    if not found:
        if engine:
            raise LayerscopeError(f"not a file, and {engine} is not installed", source=name)
        raise LayerscopeError(
            "not a file, and neither docker nor podman is installed to save it", source=name
        )
    fd, tmp = tempfile.mkstemp(prefix="layerscope-", suffix=".tar")
    os.close(fd)
    errors = []
    try:
        for e in found:
            proc = subprocess.run(
                [e, "save", "-o", tmp, name],
                capture_output=True,
                text=True,
                errors="replace",
                stdin=subprocess.DEVNULL,
            )
            if proc.returncode == 0:
                return _tar_source(name, tmp, owned=True, limits=limits)
            last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            errors.append(f"{e} save: {last}")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.unlink(tmp)
    raise LayerscopeError("; ".join(errors), source=name)
