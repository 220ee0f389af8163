"""Writing a file the user named (the JSON report) without destroying what is there.

- A regular file, or a name that does not exist yet, is written through an exclusive temporary
  file in the same directory (`O_CREAT|O_EXCL|O_NOFOLLOW`: nothing planted there is followed or
  reused) and renamed over the name only when complete: a reader never sees half a report, and a
  failure leaves the old file as it was. A symlink is followed to the file it names, and that
  file is replaced; the link stays.
- Anything else — a device (`/dev/null`, a terminal), a FIFO, a socket, `/proc/self/fd/N` — is
  opened and written directly, never replaced: renaming a regular file over `/dev/null` would
  destroy the device.
- `-` is standard output.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
from collections.abc import Iterator
from typing import TextIO

from layerscope.errors import LayerscopeError

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _target(path: str) -> tuple[str, os.stat_result | None]:
    """The name to write and what is there now: a symlink's final target, or `path` itself."""
    try:
        st = os.stat(path)  # follows links: a link to a device is a device
    except FileNotFoundError:
        return path, None  # nothing there (or a dangling link: replaced, like any missing name)
    real = os.path.realpath(path) if os.path.islink(path) else path
    return real, st


@contextlib.contextmanager
def open_output(path: str) -> Iterator[TextIO]:
    """A text stream to write `path` (see the module's note); errors name `path`."""
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        real, st = _target(path)
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(path, "w", encoding="utf-8") as f:  # a device, FIFO or terminal
                yield f
            return
        with _replacing(real, st) as f:
            yield f
    except BrokenPipeError:
        raise  # the reader went away: the caller ends quietly
    except OSError as e:
        raise LayerscopeError(f"cannot write the report: {e.strerror or e}", source=path) from None


@contextlib.contextmanager
def _replacing(real: str, st: os.stat_result | None) -> Iterator[TextIO]:
    """A temporary file beside `real`, renamed over it once written, removed on any failure."""
    folder, name = os.path.split(real)
    tmp = os.path.join(folder, f".{name}.layerscope-{secrets.token_hex(6)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC
    fd = os.open(tmp, flags, 0o666)  # the umask applies
    try:
        if st is not None:  # keep the permissions of the file replaced
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o777)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1
            yield f
        os.replace(tmp, real)
    except BaseException:
        if fd != -1:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
