"""Export a file, or a directory as of a layer, to a destination the user chose — and nowhere else.

Every name written is a single checked component created relative to an open directory handle,
with O_NOFOLLOW and O_EXCL: no `..`, no absolute path, no symlinked parent (whether the image
made it or something already in the destination) can lead a write outside the destination.

- Each file is written under a temporary name in its own directory (`.layerscope-tmp-*`,
  created with O_EXCL|O_NOFOLLOW, mode 0600) and moved to its name only when complete; on any
  failure (a full disk, a read error, an interrupt) the temporary name is removed, so no
  truncated file is ever left under a real name for a later run to keep. A failure of the
  destination or of the archive stops the export with an ExportError naming the file.
- Hard links are written as hard links: the content of a link group (a file and the hard links
  to it) is written once, under its first name exported, and every other name is linked to it
  (linkat relative to the open directory handles, never following a symlink, the new link
  checked to be the very inode written). A hard link whose target is missing, or is a symlink,
  a directory or anything but a regular file, is skipped with the reason, never written empty.
- A name the destination cannot hold (a component over NAME_MAX, a NUL byte, an encoding the
  filesystem refuses) is skipped with the reason and the export goes on with the rest; so is
  an entry whose parent in the destination is not a plain directory.
- Existing files are kept unless `overwrite` (then replaced in one rename); modes are applied
  with the user's umask, and setuid/setgid/sticky bits are never written; device and fifo
  entries are skipped and reported.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from layerscope.errors import LayerscopeError
from layerscope.insight.content import iter_entry
from layerscope.model.analysis import pack, unpack
from layerscope.model.image import Image
from layerscope.read.records import DIR, FILE, HARDLINK, SYMLINK, EntryType, LayerIndex

_O_BASE = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
TMP_PREFIX = ".layerscope-tmp-"  # temporary names, in the directory of the file being written
_TMP_TRIES = 100
# A name this destination cannot hold: skip the entry, go on with the rest.
_NAME_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.EILSEQ, errno.EINVAL})
# A hard link this destination cannot make where it is: write the content once more instead.
_RELINK_ERRNOS = frozenset({errno.EMLINK, errno.EXDEV, errno.ENAMETOOLONG, errno.ENOENT})
# A filesystem without hard links.
_NO_LINK_ERRNOS = frozenset({errno.EPERM, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", -1)})


class ExportError(LayerscopeError):
    """The export cannot be done as asked, or stopped: `result` holds what was done before."""

    def __init__(self, message: str, result: ExportResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class ExportResult:
    """What an export did; every path is relative to the destination."""

    written: list[str] = field(default_factory=list)  # files, links, symlinks and dirs ("d/")
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    existing: list[str] = field(default_factory=list)  # kept because overwrite was not given
    linked: list[tuple[str, str]] = field(default_factory=list)  # (path, path it is a link to)
    as_of: int | None = None  # the layer the export was made as of


class _Skip(Exception):
    """This entry is not written; the export goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Written:
    """The first name a link group was written under, and the inode written."""

    rel: str
    dev: int
    ino: int


def view_as_of(image: Image, layer: int) -> dict[str, tuple[int, int]]:
    """The filesystem as of `layer`: real path -> (layer, row) of the visible entry."""
    a = image.analysis
    out: dict[str, tuple[int, int]] = {}
    for pos in range(layer + 1):
        li = image.layers[pos].index
        hb = a.hidden_by[pos]
        status = a.status[pos]
        for row in range(len(li)):
            if status[row] == 255:  # markers and metadata entries are not in the filesystem
                continue
            h = hb[row]
            if h == -1 or h > layer:
                out[a.real_path(pack(pos, row))] = (pos, row)
    return out


def current_umask() -> int:
    """The process's umask, read without changing it (the app exports from a worker thread)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # no /proc: for an instant, files made elsewhere get a stricter mask
    os.umask(mask)
    return mask


def hidden_by(image: Image, entry: tuple[int, int], layer: int) -> int | None:
    """The layer that hid (overwrote, removed) an entry by `layer`, or None if it is in the
    image as of `layer`."""
    h = image.analysis.hidden_by[entry[0]][entry[1]]
    return None if h == -1 or h > layer else h


def exported_as_of(image: Image, entry: tuple[int, int], layer: int) -> int:
    """The layer as of which an entry the tree shows at `layer` is exported: `layer` when the
    entry is in the image then; for an entry removed or hidden by then (changes mode shows what
    a layer removed), the last layer that had it: the one below the layer that hid it, or its
    own when a later entry of that same layer replaced it."""
    h = hidden_by(image, entry, layer)
    return layer if h is None else max(entry[0], h - 1)


def export(
    image: Image,
    path: str,
    layer: int,
    dest: str,
    *,
    overwrite: bool = False,
    entry: tuple[int, int] | None = None,
    removed_ok: bool = False,
) -> ExportResult:
    """Write `path` (a file or a directory) as it is in the image as of `layer` into `dest`
    (a directory, created if missing; see `open_destination`). A directory is written as
    `dest/<its name>/...`. `entry` is the (layer, row) the user picked at `path`, possibly one
    a layer removed or hid: that very entry is written, as its layer stored it (the bytes the
    preview shows), and a directory as of the last layer that had it (`exported_as_of`). With
    `removed_ok`, a path `layer` removed (a directory the tree shows as removed has no entry of
    its own) is exported as of the layer below; without it, the error says which layer has it.
    `as_of` in the result says which layer the export was made as of.
    Entries that cannot be written are in `skipped` with the reason; a failure of the
    destination (a full disk) or of the archive raises ExportError naming the file."""
    if not 0 <= layer < len(image.layers):
        raise ExportError(f"--layer {layer}: the image has layers 0-{len(image.layers) - 1}")
    path = path.strip("/")
    if entry is not None:
        if not 0 <= entry[0] <= layer or not 0 <= entry[1] < len(image.layers[entry[0]].index):
            raise ExportError(f"{path or '/'}: no such entry as of layer {layer}")
        layer = exported_as_of(image, entry, layer)
    view = view_as_of(image, layer)
    if entry is not None:
        view[path] = entry
    if not _holds(view, path):
        earlier = view_as_of(image, layer - 1) if layer > 0 else {}
        missing = f"{path or '/'} is not in the image as of layer {layer}"
        if not _holds(earlier, path):
            raise ExportError(missing)
        if not removed_ok:
            raise ExportError(f"{missing}: layer {layer} removed it (--layer {layer - 1} has it)")
        layer, view = layer - 1, earlier
    top = view.get(path)
    root_fd = open_destination(dest)
    writer = _Writer(image, view, root_fd, overwrite)
    writer.result.as_of = layer
    base = path.rsplit("/", 1)[-1] if path else ""
    try:
        if top is not None and image.layers[top[0]].index.types[top[1]] != DIR:
            writer.entry(base, top)
            return writer.result
        prefix = path + "/" if path else ""
        members = sorted(p for p in view if p.startswith(prefix))
        for p in [path, *members] if path else members:
            writer.entry(base + p[len(path) :] if path else p, view.get(p))
    finally:
        os.close(root_fd)
    return writer.result


def _holds(view: dict[str, tuple[int, int]], path: str) -> bool:
    """Whether a view has `path`: an entry of its own, or entries under it."""
    return path == "" or path in view or any(p.startswith(path + "/") for p in view)


_FOLLOWED_HOPS = 40  # symlinks followed on the way to the destination (the kernel's limit)


def open_destination(dest: str) -> int:
    """The destination directory, opened (and made where missing) one name at a time, relative
    to the directory before it, never through a symlink that someone else planted: a symlink
    on the way is followed only when the user or root owns it (the user's own
    `~/Downloads -> /data/dl` is; one another user put in a shared directory such as /tmp is
    not), the rule of Linux's fs.protected_symlinks, kept where that is off. `..` goes to the
    parent of the directory reached, as the kernel resolves it. Returns an open handle."""
    start = dest if os.path.isabs(dest) else os.path.join(os.getcwd(), dest)
    pending = deque(start.split("/"))
    stack = [os.open("/", _DIR_FLAGS)]
    walked: list[str] = []  # the names followed so far, for messages
    hops = 0
    try:
        while pending:
            part = pending.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                    walked.pop()
                continue
            fd, reached = _step(stack[-1], part)
            walked.append(part)
            if fd is not None:
                stack.append(fd)
                continue
            where = "/" + "/".join(walked)
            if reached is None:
                raise ExportError(f"{dest}: {where} is not a directory")
            hops += 1
            if hops > _FOLLOWED_HOPS:
                raise ExportError(f"{dest}: too many symlinks on the way (a loop?)")
            if reached.st_uid not in (0, os.getuid()):
                raise ExportError(
                    f"{dest}: {where} is a symlink of another user (uid {reached.st_uid}), not "
                    "followed: name the directory it leads to"
                )
            target = os.readlink(part, dir_fd=stack[-1])
            walked.pop()
            if target.startswith("/"):
                while len(stack) > 1:
                    os.close(stack.pop())
                walked.clear()
            pending.extendleft(reversed(target.split("/")))
        return stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)


def _step(parent: int, name: str) -> tuple[int | None, os.stat_result | None]:
    """Open directory `name` under `parent` without following a symlink, making it if missing:
    (its handle, None); for a symlink, (None, its lstat); for anything else, (None, None)."""
    for _ in range(_TMP_TRIES):
        try:
            return os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent), None
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=parent)  # the umask applies, as for mkdir -p
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone meanwhile: try again
            return None, (st if stat.S_ISLNK(st.st_mode) else None)
    raise OSError(errno.EAGAIN, "the destination keeps changing", name)


class _Writer:
    """Writes entries one by one under an open destination directory."""

    def __init__(
        self, image: Image, view: dict[str, tuple[int, int]], root_fd: int, overwrite: bool
    ) -> None:
        self.image = image
        self.view = view
        self.root_fd = root_fd
        self.overwrite = overwrite
        self.mode_mask = 0o777 & ~current_umask()  # and never setuid, setgid or sticky
        self.result = ExportResult()
        self.targets = set(image.analysis.hardlink_targets.values())  # files with hard links
        self.groups: dict[int, _Written] = {}  # content ref -> where its content was written

    # -- one entry --------------------------------------------------------------------------
    def entry(self, rel: str, ref: tuple[int, int] | None) -> None:
        """Write one entry (None: an implied directory) at `rel`, or record why not."""
        shown = rel + "/" if self._is_dir(ref) else rel  # as in `written`
        try:
            self._entry(rel, _safe_parts(rel), ref)
        except _Skip as s:
            self.result.skipped.append((shown, s.reason))
        except UnicodeEncodeError:  # a name os cannot encode (a lone surrogate)
            self.result.skipped.append((shown, "its name cannot be encoded for the destination"))
        except OSError as e:
            if e.errno not in _NAME_ERRNOS:
                raise self._stop(shown, _why(e)) from None
            self.result.skipped.append((shown, f"the destination refuses its name: {_why(e)}"))
        except ExportError:
            raise
        except LayerscopeError as e:
            raise self._stop(shown, f"cannot read it from the archive: {e}") from None

    def _is_dir(self, ref: tuple[int, int] | None) -> bool:
        return ref is None or self.image.layers[ref[0]].index.types[ref[1]] == DIR

    def _stop(self, rel: str, problem: str) -> ExportError:
        n = len(self.result.written)
        done = f"{n:,} {'entry' if n == 1 else 'entries'} written before it"
        return ExportError(f"{rel}: {problem} (export stopped; {done})", self.result)

    def _entry(self, rel: str, parts: list[str], ref: tuple[int, int] | None) -> None:
        if ref is None:  # an implied directory (nothing stored it, something lies under it)
            self._mkdirs(parts)
            return
        pos, row = ref
        li = self.image.layers[pos].index
        t = li.types[row]
        if t == DIR:
            self._mkdirs(parts)
            return
        if t not in (FILE, HARDLINK, SYMLINK):
            raise _Skip(f"a {EntryType(t).label} is not exported")
        content = pack(pos, row)
        if t == HARDLINK:
            target = self.image.analysis.hardlink_targets.get(content)
            if target is None:
                raise _Skip(self._broken_link(li.links.get(row, "")))
            content = target
        fd, opened = self._dirs(parts[:-1])
        try:
            self._leaf(fd, parts[-1], rel, t, li, row, content)
        finally:
            for o in opened:
                os.close(o)

    def _leaf(self, fd: int, name: str, rel: str, t: int, li: LayerIndex, row: int,
              content: int) -> None:  # fmt: skip
        if _exists(fd, name):
            if not self.overwrite:
                self.result.existing.append(rel)
                return
            if _is_dir(fd, name):
                raise _Skip("a directory is in the way")
        if t == SYMLINK:
            placed = self._symlink(fd, name, li.links.get(row, ""))
        else:
            placed = self._file(fd, name, rel, content)
        if placed:
            self.result.written.append(rel)
        else:
            self.result.existing.append(rel)

    def _broken_link(self, target: str) -> str:
        """Why a hard link with no regular file behind it is not written."""
        ref = self.view.get(target) if target else None
        if ref is None:
            return f"a hard link to {target or 'nothing'}, which is not a file in the image"
        t = self.image.layers[ref[0]].index.types[ref[1]]
        return f"a hard link to {target}, a {EntryType(t).label}: only regular files are linked"

    # -- directories ------------------------------------------------------------------------
    def _mkdirs(self, parts: list[str]) -> None:
        _fd, opened = self._dirs(parts)
        for o in opened:
            os.close(o)
        self.result.written.append("/".join(parts) + "/")

    def _dirs(self, parts: list[str]) -> tuple[int, list[int]]:
        """The open directory `parts` (each made if missing) and the handles to close."""
        fd = self.root_fd
        opened: list[int] = []
        try:
            for i, part in enumerate(parts):
                fd = _open_dir(fd, part, "/".join(parts[: i + 1]))
                opened.append(fd)
        except BaseException:
            for o in opened:
                os.close(o)
            raise
        return fd, opened

    # -- files and links --------------------------------------------------------------------
    def _file(self, fd: int, name: str, rel: str, content: int) -> bool:
        """Write a regular file, or link it to its group's first name; False if one appeared."""
        first = self.groups.get(content)
        if first is not None:
            placed = self._link(fd, name, rel, first)
            if placed is not None:
                return placed
        placed, st = self._write(fd, name, content)
        if placed and content in self.targets:
            self.groups[content] = _Written(rel, st.st_dev, st.st_ino)
        return placed

    def _link(self, fd: int, name: str, rel: str, first: _Written) -> bool | None:
        """Link `name` to the inode written as `first`; None when a copy must be written."""
        with _Temporary(fd) as tmp:
            for _ in range(_TMP_TRIES):
                tmp.name = _tmp_name()
                try:
                    os.link(first.rel, tmp.name, src_dir_fd=self.root_fd, dst_dir_fd=fd,
                            follow_symlinks=False)  # fmt: skip
                    break
                except FileExistsError:
                    tmp.name = None
                except OSError as e:
                    tmp.name = None
                    if e.errno in _RELINK_ERRNOS:  # too many links, another mount, gone
                        return None
                    if e.errno in _NO_LINK_ERRNOS:
                        raise _Skip(f"a hard link to {first.rel}: the destination "
                                    f"cannot make it ({_why(e)})") from None  # fmt: skip
                    raise
            else:
                raise OSError(errno.EEXIST, "no free temporary name")
            st = os.stat(tmp.name, dir_fd=fd, follow_symlinks=False)
            if (st.st_dev, st.st_ino) != (first.dev, first.ino):
                raise _Skip(f"{first.rel}, which it links to, was changed in the destination")
            placed = self._place(fd, tmp, name)
        if placed:
            self.result.linked.append((rel, first.rel))
        return placed

    def _write(self, fd: int, name: str, content: int) -> tuple[bool, os.stat_result]:
        """Write the content under a temporary name, then move it to `name`."""
        layer, row = unpack(content)
        li = self.image.layers[layer].index
        size = li.sizes[row]
        with _Temporary(fd) as tmp:
            out = tmp.create()
            try:
                n = 0
                for chunk in _content(self.image, layer, row):
                    _write_all(out, chunk)
                    n += len(chunk)
                if n != size:
                    raise LayerscopeError(f"the archive holds {n:,} of its {size:,} bytes")
                os.fchmod(out, li.modes[row] & self.mode_mask)
                st = os.fstat(out)
            finally:
                os.close(out)
            return self._place(fd, tmp, name), st

    def _symlink(self, fd: int, name: str, target: str) -> bool:
        if not target:
            raise _Skip("a symlink with an empty target")
        if "\0" in target:
            raise _Skip("a symlink whose target has a NUL byte")
        with _Temporary(fd) as tmp:
            for _ in range(_TMP_TRIES):
                tmp.name = _tmp_name()
                try:
                    os.symlink(target, tmp.name, dir_fd=fd)
                    break
                except FileExistsError:
                    tmp.name = None
                except OSError as e:
                    tmp.name = None
                    if e.errno == errno.ENAMETOOLONG:
                        raise _Skip("its symlink target is too long for the destination") from None
                    raise
            else:
                raise OSError(errno.EEXIST, "no free temporary name")
            return self._place(fd, tmp, name)

    def _place(self, fd: int, tmp: _Temporary, name: str) -> bool:
        """Move the complete temporary file to `name`: over what is there if `overwrite`, else
        only if nothing is (False when something appeared there meanwhile)."""
        assert tmp.name is not None
        if self.overwrite:
            try:
                os.rename(tmp.name, name, src_dir_fd=fd, dst_dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                    raise _Skip("a directory is in the way") from None
                raise
            tmp.name = None
            return True
        try:  # link + unlink: never replaces a name that appeared since it was checked
            os.link(tmp.name, name, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno not in _NO_LINK_ERRNOS:
                raise
            if _exists(fd, name):
                return False
            os.rename(tmp.name, name, src_dir_fd=fd, dst_dir_fd=fd)
            tmp.name = None
            return True
        os.unlink(tmp.name, dir_fd=fd)
        tmp.name = None
        return True


class _Temporary:
    """A temporary name in a directory, removed on leaving unless it was moved (name = None)."""

    def __init__(self, dir_fd: int) -> None:
        self.dir_fd = dir_fd
        self.name: str | None = None

    def create(self) -> int:
        """Create an empty private file under a fresh temporary name; its open handle."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BASE
        for _ in range(_TMP_TRIES):
            name = _tmp_name()
            try:
                fd = os.open(name, flags, 0o600, dir_fd=self.dir_fd)
            except FileExistsError:
                continue
            self.name = name
            return fd
        raise OSError(errno.EEXIST, "no free temporary name")

    def __enter__(self) -> _Temporary:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.name, dir_fd=self.dir_fd)
            self.name = None


def _tmp_name() -> str:
    return TMP_PREFIX + secrets.token_hex(8)


def _safe_parts(path: str) -> list[str]:
    parts = path.split("/")
    for part in parts:
        if "\0" in part:
            raise _Skip("its name has a NUL byte")
        if part in ("", ".", ".."):
            raise _Skip(f"its name has a {part or 'empty'!r} component")
    return parts


def _open_dir(parent_fd: int, name: str, rel: str) -> int:
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o755, dir_fd=parent_fd)
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | _O_BASE, dir_fd=parent_fd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _Skip(f"{rel} in the destination is not a plain directory") from None
        raise


def _content(image: Image, pos: int, row: int) -> Iterator[bytes]:
    for chunk in iter_entry(image, pos, row):
        view = memoryview(chunk)
        while view:
            yield bytes(view[: 1 << 20])
            view = view[1 << 20 :]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _why(e: OSError) -> str:
    return e.strerror or str(e)


def _exists(fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def _is_dir(fd: int, name: str) -> bool:
    return stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
