"""Access to the container of images: a tar (seekable, spooled if compressed or piped) or a
directory. Members are found by name, outer-tar symlinks resolved inside the archive (FORMATS.md 3,
30), and every blob is handed out as a region of a file on disk, so layers can be read anywhere,
in any process, without copying.

A spooled copy (standard input, a pipe, a compressed archive, what `docker save` or `podman save`
writes) never has a name on Linux: it is a temporary file unlinked from the start, read through
/proc/PID/fd/N (by this process and by its worker processes), and freed by the kernel when the
last process holding it ends, however it ends (SIGKILL included). Elsewhere it is a named file,
removed when the source is closed."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import select
import shutil
import stat
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

from layerscope import lifecycle
from layerscope.errors import FormatError, LayerscopeError, LimitExceeded
from layerscope.limits import DEFAULT_LIMITS, Limits
from layerscope.read import compression
from layerscope.read.layerreader import BlobLocation
from layerscope.read.tarstream import FileStream, iter_members

POLL = 0.5  # seconds a read from a pipe (or a wait for docker) goes before it looks for a signal


@dataclass(frozen=True)
class Member:
    type: str
    offset: int
    size: int
    link: str | None


class Missing(FormatError):
    """A member the archive does not have (as a file). Unlike a path that leaves the archive,
    it is an answer, not an attack: an OCI blob of another platform may be absent."""


class Source:
    """A container of images: named members, each readable as a region of a file."""

    name: str  # what the user gave, for messages and the report
    format: str | None = None  # the report's `format` of its images, when not the layout's

    def __init__(self, name: str, limits: Limits) -> None:
        self.name = name
        self.limits = limits
        self._cleanup: list[str] = []  # named temporary files to remove
        self._held: list[IO[bytes]] = []  # temporary files without a name, kept open

    def exists(self, path: str) -> bool:
        try:
            self.locate(path)
        except Missing:
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
        try:
            with open(loc.file, "rb") as f:
                f.seek(loc.offset)
                data = f.read(loc.size)
        except OSError as e:
            raise FormatError(f"{path}: cannot be read ({e.strerror or e})") from None
        if len(data) != loc.size:
            raise FormatError(f"{path}: truncated (the file changed while it was read?)")
        return data

    def names(self) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        """Let go of the temporary copy, if any (a spooled archive is gone once closed)."""
        for f in self._held:
            f.close()
        self._held.clear()
        for path in self._cleanup:
            _remove(path)
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


def _join_inside(base: str, target: str, what: str, *, root_ok: bool = False) -> str:
    """A symlink target resolved relative to its directory; `..` may not climb out of the archive.
    The archive root itself ("") is a directory: only a path's parent may name it."""
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
    if not parts and not root_ok:
        raise FormatError(f"{what} is a symlink to the archive root")
    return "/".join(parts)


class TarSource(Source):
    """A tar file on disk (plain: compressed input is spooled first)."""

    def __init__(self, name: str, file: str, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(name, limits)
        self.file = file
        self.members: dict[str, Member] = {}
        count = 0
        with open(file, "rb") as f:
            for m in iter_members(FileStream(f), limits):
                count += 1
                if count > limits.max_members:
                    raise LimitExceeded(
                        f"over {limits.max_members} members in the archive; "
                        f"raise with --max-members"
                    )
                path = m.name.decode("utf-8", "surrogateescape")
                norm = "/".join(p for p in path.split("/") if p not in ("", "."))
                if not norm:
                    continue
                link = m.linkname.decode("utf-8", "surrogateescape") if m.linkname else None
                self.members[norm] = Member(m.type, m.data_offset, m.stored, link)

    def names(self) -> list[str]:
        return list(self.members)

    def _resolve(self, path: str) -> Member:
        """The file member a path names, following the archive's symlinks and hardlinks (in
        the path's directories too) without ever leaving the archive (FORMATS.md 3, 30)."""
        asked = path
        if len(path) > self.limits.max_path_length:  # no member has such a name
            raise Missing(f"{path[:200]}... is missing from the archive")
        pending = deque(clean_member_path(path).split("/"))
        done = ""  # the members resolved so far, joined
        hops = 0
        while pending:
            part = pending.popleft()
            cand = f"{done}/{part}" if done else part
            if len(cand) > self.limits.max_path_length:
                raise Missing(f"{asked} is missing from the archive")
            m = self.members.get(cand)
            if m is None:
                if pending:  # an implied directory (no member of its own)
                    done = cand
                    continue
                raise Missing(f"{cand} is missing from the archive")
            if m.type not in ("symlink", "hardlink"):
                if pending and m.type != "dir":
                    raise Missing(f"{cand} is a {m.type} in the archive, not a directory")
                if not pending and m.type != "file":
                    raise Missing(f"{cand} is a {m.type} in the archive, not a file")
                if not pending:
                    return m
                done = cand
                continue
            hops += 1
            if hops > self.limits.max_symlink_hops:
                raise LimitExceeded(
                    f"{asked}: too many symlink hops in the archive (over "
                    f"{self.limits.max_symlink_hops}: a loop?); raise with --max-symlink-hops"
                )
            target = m.link or ""
            if m.type == "hardlink":  # names a member from the archive's root
                pending.extendleft(reversed(clean_member_path(target).split("/")))
            elif target.startswith("/"):
                raise FormatError(f"{cand} is a symlink to an absolute path ({target})")
            else:
                joined = _join_inside(done, target, cand, root_ok=bool(pending))
                pending.extendleft(reversed(joined.split("/") if joined else []))
            done = ""
        raise FormatError(f"{asked} names the archive root, not a file")

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
        if len(path) > self.limits.max_path_length:  # no file has such a name
            raise Missing(f"{path[:200]}... is missing from the image directory")
        path = clean_member_path(path)
        full = os.path.realpath(os.path.join(self.root, path))
        if not (full + os.sep).startswith(self.root + os.sep):
            raise FormatError(f"{path} leaves the image directory")
        if not os.path.isfile(full):
            raise Missing(f"{path} is missing from the image directory")
        return BlobLocation(full, 0, os.path.getsize(full))


class Spool:
    """A temporary copy of an archive: an open file and the path by which this process and its
    worker processes read it (see the module's docstring)."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115 (closed by discard)
            prefix="layerscope-", suffix=".tar"
        )
        self.path = f"/proc/{os.getpid()}/fd/{self.file.fileno()}"
        self.named = not _opens_the_same(self.path, self.file)
        if self.named:  # no /proc: a file with a name, removed on close
            self.file.close()
            self.file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by discard)
                prefix="layerscope-", suffix=".tar", delete=False
            )
            self.path = self.file.name
            lifecycle.track(self.path)

    def discard(self) -> None:
        """Close and remove the copy (the archive could not be used)."""
        self.file.close()
        if self.named:
            _remove(self.path)

    def hand_to(self, src: Source) -> None:
        """The source keeps the copy until it is closed."""
        if self.named:
            self.file.close()
            src._cleanup.append(self.path)
        else:
            src._held.append(self.file)


def _opens_the_same(path: str, f: IO[bytes]) -> bool:
    """Whether `path` opens the very file `f` is (with an offset of its own): Linux's /proc."""
    if not sys.platform.startswith("linux"):
        return False  # elsewhere, /dev/fd/N shares the offset of N
    try:
        return os.path.samestat(os.stat(path), os.fstat(f.fileno()))
    except OSError:
        return False


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
    lifecycle.untrack(path)


def _spool(stream: BinaryIO, label: str, limits: Limits) -> Spool:
    """Copy a stream to a temporary file, decompressing it if it is compressed."""
    spool = Spool()
    try:
        _copy(stream, spool.file, limits)
        spool.file.flush()
    except BaseException:
        spool.discard()
        raise
    return spool


def _copy(stream: BinaryIO, out: IO[bytes], limits: Limits) -> None:
    """Copy `stream` to `out`, decompressing it if it is compressed (within the limits)."""
    chunks = _chunks(stream)
    head = b""
    while len(head) < 6 and (chunk := next(chunks, b"")):
        head += chunk
    kind = compression.detect(head)
    read = written = 0

    def counted() -> Iterator[bytes]:
        nonlocal read
        for chunk in itertools.chain([head] if head else [], chunks):
            read += len(chunk)
            yield chunk

    for chunk in compression.decompress(counted(), kind, limits.max_decoder_memory):
        written += len(chunk)
        if kind != compression.NONE:
            limits.check_copy(written, read)  # --max-archive-bytes, --max-ratio
        out.write(chunk)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The bytes of `stream`, chunk by chunk. A pipe (or terminal, or socket), never read yet
    through its buffer, is read one system call at a time, each once select() says it will not
    block: Python runs a signal handler only between two bytecodes, and a read started just
    after a signal came (as a buffered reader's loop does) would wait for data that may never
    come. A signal that comes just before select() is taken when it times out (POLL)."""
    try:
        fd = stream.fileno()
        waits = not stat.S_ISREG(os.fstat(fd).st_mode)
    except (AttributeError, OSError, ValueError):  # io.BytesIO & co: nothing to wait for
        waits = False
    if not waits:
        yield from iter(lambda: stream.read(compression.CHUNK), b"")
        return
    while True:
        select.select([fd], [], [], POLL)
        chunk = os.read(fd, compression.CHUNK)
        if not chunk:
            return
        yield chunk


def open_source(name: str, *, engine: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Source:
    """Open what the user named: `-` (standard input), a file, a directory, or an image name
    that an engine (docker, podman) saves for us. `engine` is `archive`, `docker` or `podman`;
    without it, an engine is asked only for a name that looks like an image reference."""
    if name == "-":
        return _spooled_source(name, _spool(sys.stdin.buffer, "standard input", limits), limits)
    if engine in (None, "archive") and os.path.isdir(name):
        return DirSource(name, name, limits)
    if engine in (None, "archive") and os.path.exists(name):
        with open(name, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # a pipe: <(docker save app)
                return _spooled_source(name, _spool(f, name, limits), limits)
            kind = compression.detect(f.read(6))
            if kind != "none":
                f.seek(0)
                return _spooled_source(name, _spool(f, name, limits), limits)
        return TarSource(name, name, limits)
    if engine == "archive" or (engine is None and not looks_like_reference(name)):
        raise LayerscopeError("no such file or directory", source=name)
    return _save_with_engine(name, engine, limits)


# An image reference as docker and podman parse one (github.com/distribution/reference,
# regexp.go): [domain[:port]/]path[:tag][@digest]; path components are lowercase.
_ALNUM = r"[a-z0-9]+"
_PATH_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_HOST}(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?",
    re.ASCII,
)
NAME_MAX = 255  # the longest name (without tag and digest) docker accepts
# Endings of file names, never of the images people name: `app.tar` is a missing file.
ARCHIVE_SUFFIXES = (".tar", ".tgz", ".gz", ".zst", ".tzst", ".xz", ".txz", ".bz2", ".tbz2")


def looks_like_reference(name: str) -> bool:
    """Whether a name that is not a file could be an image for docker or podman to save: an
    image reference (`nginx`, `nginx:1.27`, `ghcr.io/org/app@sha256:...`, an image ID), and
    not a path (`/x`, `./x`, `~/x`, `x/`, upper case, spaces) nor an archive's name (`x.tar`,
    `x.tar.gz`). A missing file is then "no such file or directory", not the engines'
    errors, and no engine is started for it."""
    m = _REFERENCE.fullmatch(name)
    if m is None or len(m.group("name")) > NAME_MAX:
        return False
    return not name.lower().endswith(ARCHIVE_SUFFIXES)


def _spooled_source(name: str, spool: Spool, limits: Limits) -> TarSource:
    """The source read from a temporary copy, which it keeps until closed."""
    try:
        src = TarSource(name, spool.path, limits)
    except BaseException:
        spool.discard()
        raise
    spool.hand_to(src)
    return src


def engine_command(engine: str, name: str) -> list[str]:
    """The command that saves image `name` to standard output. `--` ends the options: a name
    beginning with `-` is an image name, never an option (cobra, the command line parser of
    docker and podman, stops at `--`)."""
    return [engine, "save", "--", name]


def _save_with_engine(name: str, engine: str | None, limits: Limits) -> TarSource:
    """Have docker (or podman) save the image to a temporary copy, read as an archive. The
    engine writes to our standard output file, never to a name: killed, it leaves nothing."""
    engines = [engine] if engine else ["docker", "podman"]
    found = [e for e in engines if shutil.which(e)]
    if not found:
        if engine:
            raise LayerscopeError(f"not a file, and {engine} is not installed", source=name)
        raise LayerscopeError(
            "not a file, and neither docker nor podman is installed to save it", source=name
        )
    spool = Spool()
    errors = []
    try:
        for e in found:
            spool.file.seek(0)
            spool.file.truncate()
            status, stderr = _run(engine_command(e, name), spool.file)
            if status == 0:
                return _spooled_source(name, spool, limits)
            last = (stderr.strip().splitlines() or ["failed"])[-1]
            errors.append(f"{e} save: {last}")
    except BaseException:
        spool.discard()
        raise
    spool.discard()
    raise LayerscopeError("; ".join(errors), source=name)


def _run(command: list[str], out: IO[bytes]) -> tuple[int, str]:
    """Run `command` with its standard output to `out`: its exit status and standard error.
    It is waited for POLL seconds at a time (a signal is taken at once, see _chunks), and
    killed if this process is interrupted."""
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    ) as proc:
        try:
            while True:
                try:
                    _, stderr = proc.communicate(timeout=POLL)
                    return proc.returncode, stderr
                except subprocess.TimeoutExpired:
                    continue
        except BaseException:
            proc.kill()
            raise
