"""Where a written image goes: the very name the user gave, and nothing else.

The image is written under a temporary name in the destination's own directory (created with
O_EXCL|O_NOFOLLOW: never through a planted link) and renamed to the destination only when
complete. An existing destination is replaced only with `force`, and only if it is what the
format writes (a regular file for an archive, a directory for an OCI layout, or a symlink, which
is replaced itself, never followed); a device, a FIFO or anything else is never replaced. On any
failure, Ctrl-C or SIGTERM/SIGHUP (lifecycle.py) the temporary name is removed: nothing is left
behind, and a destination that existed is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import stat
from collections.abc import Iterator

from layerscope import lifecycle
from layerscope.errors import LayerscopeError

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
TMP_MARK = ".layerscope-tmp-"


class DestinationError(LayerscopeError):
    """The destination cannot be written as asked."""


def check(dest: str, directory: bool, force: bool) -> None:
    """Refuse a destination that cannot be written (before any work is done)."""
    parent = os.path.dirname(os.path.abspath(dest)) or "/"
    if not os.path.isdir(parent):
        raise DestinationError("its directory does not exist", source=dest)
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return
    kind = stat.S_IFMT(st.st_mode)
    if not force:
        raise DestinationError("exists (--force replaces it)", source=dest)
    if kind == stat.S_IFLNK:
        return
    if directory and kind != stat.S_IFDIR:
        raise DestinationError("exists and is not a directory: not replaced", source=dest)
    if not directory and kind != stat.S_IFREG:
        what = "a directory" if kind == stat.S_IFDIR else "not a regular file"
        raise DestinationError(f"exists and is {what}: not replaced", source=dest)


def _temp_name(dest: str) -> str:
    folder, name = os.path.split(os.path.abspath(dest))
    return os.path.join(folder, f".{name}{TMP_MARK}{secrets.token_hex(6)}")


_HELD = {signal.SIGINT, *lifecycle.SIGNALS}


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP held back while a temporary name is made and noted (they
    come once it is noted, and then it is removed): else one coming just after the name is
    made would leave it behind."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    before = mask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, before)


@contextlib.contextmanager
def temporary_file(dest: str, force: bool) -> Iterator[tuple[str, int]]:
    """(temporary path, its descriptor) beside `dest`; renamed to `dest` when the block ends
    normally, removed otherwise."""
    check(dest, False, force)
    tmp = _temp_name(dest)
    fd = -1
    try:
        with _signals_held():
            fd = os.open(
                tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC, 0o666
            )
            lifecycle.track(tmp)
        yield tmp, fd  # not fsynced (as the report is not): a rename, not a disk flush
        check(dest, False, force)  # nothing appeared meanwhile that must not be replaced
        os.replace(tmp, dest)
    except BaseException:
        if fd != -1:  # ours (a name that was there already is not)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    finally:
        lifecycle.untrack(tmp)
        if fd != -1:
            with contextlib.suppress(OSError):
                os.close(fd)


@contextlib.contextmanager
def temporary_dir(dest: str, force: bool) -> Iterator[str]:
    """A temporary directory beside `dest`, renamed to `dest` when the block ends normally
    (an existing one, with `force`, is moved aside first and removed after), removed otherwise."""
    check(dest, True, force)
    tmp = _temp_name(dest)
    made = False
    old = None
    try:
        with _signals_held():
            os.mkdir(tmp, 0o777)  # the umask applies
            made = True
            lifecycle.track(tmp)
        yield tmp
        check(dest, True, force)
        if os.path.lexists(dest):
            if os.path.islink(dest):
                os.unlink(dest)
            else:
                old = _temp_name(dest)
                os.rename(dest, old)
                lifecycle.track(old)
        os.rename(tmp, dest)
    except BaseException:
        if made:
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not os.path.lexists(dest):
            with contextlib.suppress(OSError):
                os.rename(old, dest)  # put the old one back
            old = None
        raise
    finally:
        lifecycle.untrack(tmp)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
            lifecycle.untrack(old)


def scratch_file(directory: str) -> tuple[str, int]:
    """A temporary file in `directory` (for a layer blob written before it is placed), tracked
    so that a forced exit removes it; the caller removes it (inside a temporary directory,
    which goes with it on any failure)."""
    path = os.path.join(directory, f"{TMP_MARK}{secrets.token_hex(6)}")
    with _signals_held():
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC, 0o600)
        lifecycle.track(path)
    return path, fd


def remove_scratch(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
    lifecycle.untrack(path)
