"""Export a file, or a directory as of a layer, to a destination the user chose — and nowhere else.

Every name written is a single checked component created relative to an open directory handle,
with O_NOFOLLOW and O_EXCL: no `..`, no absolute path, no symlinked parent (whether the image
made it or something already in the destination) can lead a write outside the destination.
Existing files are kept unless `overwrite`; setuid/setgid/sticky bits are never written; device
and fifo entries are skipped and reported.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from .content import iter_entry
from .errors import LayerscopeError
from .filesystem import pack
from .image import Image
from .records import DIR, FILE, HARDLINK, SYMLINK, TYPE_NAMES

_O_BASE = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class ExportError(LayerscopeError):
    """The export cannot be done as asked."""


@dataclass
class ExportResult:
    written: list[str] = field(default_factory=list)  # paths relative to the destination
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    existing: list[str] = field(default_factory=list)  # kept because overwrite was not given


def view_as_of(image: Image, layer: int) -> dict[str, tuple[int, int]]:
    """The filesystem as of `layer`: real path -> (layer, row) of the visible entry."""
    a = image.analysis
    out: dict[str, tuple[int, int]] = {}
    for pos in range(layer + 1):
        li = image.layers[pos].data
        hb = a.hidden_by[pos]
        status = a.status[pos]
        for row in range(len(li)):  # type: ignore[arg-type]
            if status[row] == 255:  # markers and metadata entries are not in the filesystem
                continue
            h = hb[row]
            if h == -1 or h > layer:
                out[a.real_path(pack(pos, row))] = (pos, row)
    return out


def _safe_parts(path: str) -> list[str]:
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", "..") or "\0" in part:
            raise ExportError(f"refusing to write a name with {part!r} in it: {path!r}")
    return parts


def _open_dir(parent_fd: int, name: str, create: bool) -> int:
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent_fd)
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | _O_BASE, dir_fd=parent_fd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ExportError(f"{name!r} in the destination is not a plain directory") from None
        raise


def export(
    image: Image, path: str, layer: int, dest: str, *, overwrite: bool = False
) -> ExportResult:
    """Write `path` (a file or a directory) as it is in the image as of `layer` into `dest`
    (a directory, created if missing). A directory is written as `dest/<its name>/...`."""
    if not 0 <= layer < len(image.layers):
        raise ExportError(f"--layer {layer}: the image has layers 0-{len(image.layers) - 1}")
    path = path.strip("/")
    view = view_as_of(image, layer)
    top = view.get(path)
    implied = path == "" or any(p.startswith(path + "/") for p in view)
    if top is None and not implied:
        raise ExportError(f"{path or '/'} is not in the image as of layer {layer}")
    os.makedirs(dest, exist_ok=True)
    root_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    result = ExportResult()
    base = path.rsplit("/", 1)[-1] if path else ""
    try:
        if top is not None and image.layers[top[0]].data.types[top[1]] != DIR:  # type: ignore[union-attr]
            _write_entry(image, root_fd, [_safe_parts(base)[0]], top, result, overwrite)
            return result
        prefix = path + "/" if path else ""
        members = sorted(p for p in view if p.startswith(prefix))
        for p in [path, *members] if path else members:
            rel = base + p[len(path) :] if path else p
            ref = view.get(p)
            if ref is None:  # an implied directory (nothing stored it, something lies under it)
                _mkdirs(root_fd, _safe_parts(rel), result)
            else:
                _write_entry(image, root_fd, _safe_parts(rel), ref, result, overwrite)
    finally:
        os.close(root_fd)
    return result


def _mkdirs(root_fd: int, parts: list[str], result: ExportResult) -> None:
    fd = root_fd
    try:
        for part in parts:
            nfd = _open_dir(fd, part, create=True)
            if fd != root_fd:
                os.close(fd)
            fd = nfd
    finally:
        if fd != root_fd:
            os.close(fd)
    result.written.append("/".join(parts) + "/")


def _write_entry(image: Image, root_fd: int, parts: list[str], ref: tuple[int, int],
                 result: ExportResult, overwrite: bool) -> None:  # fmt: skip
    pos, row = ref
    li = image.layers[pos].data
    t = li.types[row]  # type: ignore[union-attr]
    rel = "/".join(parts)
    if t == DIR:
        _mkdirs(root_fd, parts, result)
        return
    if t not in (FILE, HARDLINK, SYMLINK):
        result.skipped.append((rel, f"a {TYPE_NAMES[t]} is not exported"))
        return
    fd = root_fd
    opened = []
    try:
        for part in parts[:-1]:
            fd = _open_dir(fd, part, create=True)
            opened.append(fd)
        name = parts[-1]
        if _exists(fd, name):
            if not overwrite:
                result.existing.append(rel)
                return
            if _is_dir(fd, name):
                result.skipped.append((rel, "a directory is in the way"))
                return
            os.unlink(name, dir_fd=fd)
        if t == SYMLINK:
            os.symlink(li.links.get(row, ""), name, dir_fd=fd)  # type: ignore[union-attr]
        else:
            mode = li.modes[row] & 0o777  # type: ignore[union-attr]
            out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BASE, 0o600, dir_fd=fd)
            try:
                for chunk in _content(image, pos, row):
                    os.write(out, chunk)
                os.fchmod(out, mode)
            finally:
                os.close(out)
        result.written.append(rel)
    finally:
        for o in opened:
            os.close(o)


def _content(image: Image, pos: int, row: int) -> Iterator[bytes]:
    for chunk in iter_entry(image, pos, row):
        view = memoryview(chunk)
        while view:
            yield bytes(view[: 1 << 20])
            view = view[1 << 20 :]


def _exists(fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def _is_dir(fd: int, name: str) -> bool:
    import stat

    return stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
