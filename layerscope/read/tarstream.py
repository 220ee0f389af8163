"""A streaming tar reader: headers parsed by hand, data handed to the caller, one pass, any size.

It reads ustar, GNU (long names and links, old sparse) and PAX (local and global, sparse 0.1 and 1.0)
headers, base-256 numbers, and reports where each member's data lies in the uncompressed stream, so a
later preview or export can go straight to it. `tarfile` is not used: it builds heavy objects per member
and cannot report offsets in a decompressed stream.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from layerscope.errors import LimitExceeded, TarError
from layerscope.limits import DEFAULT_LIMITS, Limits

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
_SPACES = b" " * 8
CHUNK = 1 << 20


class ByteStream(Protocol):
    """What the tar reader reads from: exact reads and skips that count the offset."""

    offset: int

    def read(self, n: int) -> bytes: ...
    def read_block_or_eof(self) -> bytes | None: ...
    def skip(self, n: int) -> None: ...
    def feed(self, n: int, sink: Callable[[bytes | memoryview], object]) -> None: ...


class ChunkStream:
    """Exact reads over an iterator of byte chunks (a decompressor's output); counts the offset."""

    __slots__ = ("_buf", "_it", "_pos", "offset", "on_chunk")

    def __init__(
        self, chunks: Iterator[bytes], on_chunk: Callable[[bytes], object] | None = None
    ) -> None:
        self._it = chunks
        self._buf = b""
        self._pos = 0
        self.offset = 0  # absolute offset of the next unread byte
        self.on_chunk = on_chunk  # sees every byte once, in order (the diff_id hash)

    def _next(self) -> bytes | None:
        for chunk in self._it:
            if chunk:
                if self.on_chunk is not None:
                    self.on_chunk(chunk)
                return chunk
        return None

    def _pull(self) -> bool:
        chunk = self._next()
        if chunk is None:
            return False
        rest = len(self._buf) - self._pos
        self._buf = self._buf[self._pos :] + chunk if rest else chunk
        self._pos = 0
        return True

    def read(self, n: int) -> bytes:
        have = len(self._buf) - self._pos
        if have < n:
            # gather the chunks, then join once: a stream of tiny chunks (a gzip member per
            # byte) must not cost a copy of the buffer per chunk
            parts = [self._buf[self._pos :]]
            while have < n:
                chunk = self._next()
                if chunk is None:
                    raise TarError("truncated: the stream ends inside a tar entry")
                parts.append(chunk)
                have += len(chunk)
            self._buf, self._pos = b"".join(parts), 0
        start = self._pos
        self._pos += n
        self.offset += n
        return self._buf[start : start + n]

    def window(self, want: int) -> tuple[bytes, int]:
        """The buffer and where its unread bytes start, with at least `want` of them unless the
        stream ends first (then all it has). Nothing is consumed: `skip` does that."""
        have = len(self._buf) - self._pos
        if have < want:
            parts = [self._buf[self._pos :]]
            while have < want:
                chunk = self._next()
                if chunk is None:
                    break
                parts.append(chunk)
                have += len(chunk)
            self._buf, self._pos = b"".join(parts), 0
        return self._buf, self._pos

    def read_block_or_eof(self) -> bytes | None:
        """The next 512 bytes, or None at a clean end of stream."""
        if len(self._buf) - self._pos == 0 and not self._pull():
            return None
        return self.read(BLOCK)

    def feed(self, n: int, sink: Callable[[bytes | memoryview], object]) -> None:
        while n:
            avail = len(self._buf) - self._pos
            if not avail:
                if not self._pull():
                    raise TarError("truncated: the stream ends inside a file's data")
                continue
            k = avail if avail < n else n
            sink(memoryview(self._buf)[self._pos : self._pos + k])
            self._pos += k
            self.offset += k
            n -= k

    def skip(self, n: int) -> None:
        if n <= len(self._buf) - self._pos:  # the common case: within the buffer
            self._pos += n
            self.offset += n
        else:
            self.feed(n, _discard)

    def drain(self) -> int:
        """Read to the end of the stream (so a hash sees every byte); returns the bytes left."""
        left = len(self._buf) - self._pos
        self._buf, self._pos = b"", 0
        for chunk in self._it:
            if chunk and self.on_chunk is not None:
                self.on_chunk(chunk)
            left += len(chunk)
        self.offset += left
        return left


class FileStream:
    """Exact reads over a seekable file region; skips by seeking (the outer archive)."""

    __slots__ = ("_end", "_f", "offset")

    def __init__(self, f: BinaryIO, start: int = 0, size: int | None = None) -> None:
        self._f = f
        f.seek(0, 2)
        end = f.tell()
        self._end = end if size is None else min(end, start + size)
        self.offset = start
        f.seek(start)

    def read(self, n: int) -> bytes:
        if self.offset + n > self._end:
            raise TarError("truncated: the archive ends inside a tar entry")
        data = self._f.read(n)
        if len(data) != n:
            raise TarError("truncated: the archive ends inside a tar entry")
        self.offset += n
        return data

    def read_block_or_eof(self) -> bytes | None:
        if self.offset >= self._end:
            return None
        return self.read(BLOCK)

    def feed(self, n: int, sink: Callable[[bytes | memoryview], object]) -> None:
        while n:
            k = min(n, CHUNK)
            sink(self.read(k))
            n -= k

    def skip(self, n: int) -> None:
        if self.offset + n > self._end:
            raise TarError("truncated: the archive ends inside a tar entry's data")
        self.offset += n
        self._f.seek(self.offset)


def _discard(_: object) -> None:
    return None


# Member types as they come from the tar typeflag, mapped to layerscope's type names
# (`records.EntryType` labels).
TYPEFLAGS = {
    b"0": "file",
    b"\0": "file",
    b"7": "file",
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "char",
    b"4": "block",
    b"5": "dir",
    b"D": "dir",
    b"6": "fifo",
    b"S": "file",
}


@dataclass(slots=True)
class TarMember:
    """One member as the archive describes it (names as raw bytes)."""

    name: bytes
    type: str
    size: int  # logical size: a sparse file's real size
    stored: int  # bytes of data that follow the header in the stream
    mode: int
    uid: int
    gid: int
    mtime: int
    linkname: bytes
    devmajor: int
    devminor: int
    data_offset: int  # offset of the data in the stream
    pax: dict[str, bytes] | None = None
    sparse: list[tuple[int, int]] | None = None  # (offset, length) data segments of a sparse file


def _num(field: bytes) -> int:
    """A numeric header field: octal ASCII, or base-256 when the high bit is set."""
    if field and field[0] & 0x80:
        # two's complement over the field's bits but the marker bit: bit 6 of byte 0 is the sign
        bits = 8 * (len(field) - 1)
        value = int.from_bytes(field[1:], "big") + ((field[0] & 0x3F) << bits)
        if field[0] & 0x40:  # negative base-256
            value -= 1 << (bits + 6)
        return value
    try:  # the common case: all octal digits, then NUL or space
        return int(field[:-1], 8)
    except ValueError:
        pass
    s = field.split(b"\0", 1)[0].strip(b" ")
    if not s:
        return 0
    try:
        return int(s, 8)
    except ValueError:
        raise TarError(f"corrupt tar header: bad number {s[:16]!r}") from None


def _checksum_ok(block: bytes) -> bool:
    stored = block[148:156].split(b"\0", 1)[0].strip(b" ")
    if not stored or stored.strip(b"01234567"):  # octal digits only
        return False
    want = int(stored, 8)
    # adler32's low half is 1 + sum(bytes) mod 65521, and 256 bytes sum to at most 65280: over
    # each half of the block it is the exact sum, at C speed.
    low = zlib.adler32(block[156:256], zlib.adler32(_SPACES, zlib.adler32(block[:148])))
    total = (low & 0xFFFF) - 1 + (zlib.adler32(block[256:]) & 0xFFFF) - 1
    if total == want:
        return True
    # old tars used a signed sum
    signed = total - 256 * sum(1 for b in block[:148] + block[156:] if b > 127)
    return signed == want


_GLOBAL_KEYS = frozenset({"path", "linkpath", "size", "uid", "gid", "mtime"})
_INT64 = 1 << 63
_BASE256 = 0x80  # the first byte of a base-256 number field


def _parse_pax(data: bytes, limits: Limits) -> dict[str, bytes]:
    """PAX records `LEN KEY=VALUE\\n`; values stay bytes (xattrs are binary)."""
    out: dict[str, bytes] = {}
    sparse: list[bytes] = []
    pos = 0
    n = len(data)
    while pos < n:
        if data[pos] == 0:
            break
        sp = data.find(b" ", pos, pos + 24)
        if sp < 0 or not data[pos:sp].isdigit():
            raise TarError("corrupt PAX header: bad record length")
        length = int(data[pos:sp])
        end = pos + length
        if length <= sp - pos + 1 or end > n or data[end - 1] != 0x0A:
            raise TarError("corrupt PAX header: bad record")
        rec = data[sp + 1 : end - 1]
        eq = rec.find(b"=")
        if eq <= 0:
            raise TarError("corrupt PAX header: record without '='")
        key = rec[:eq].decode("utf-8", "surrogateescape")
        if key in ("GNU.sparse.offset", "GNU.sparse.numbytes"):
            # sparse 0.0: the map comes as repeated offset/numbytes records, kept in order
            sparse.append(rec[eq + 1 :])
        else:
            out[key] = rec[eq + 1 :]
        pos = end
    if sparse:
        out["GNU.sparse.map"] = b",".join(sparse)
    return out


def _pax_int(pax: dict[str, bytes], key: str, default: int) -> int:
    v = pax.get(key)
    if v is None:
        return default
    s = v.split(b".", 1)[0] if b"." in v else v  # fractional times: the whole seconds
    digits = s[1:] if s[:1] == b"-" else s
    if not digits.isdigit() or len(digits) > 19:
        raise TarError(f"corrupt PAX header: bad {key}")
    n = int(s)
    if not -_INT64 <= n < _INT64:
        raise TarError(f"corrupt PAX header: {key} is out of range")
    return n


def _header_limit(size: int, limits: Limits, what: str = "a tar extended header") -> None:
    if size > limits.max_header_bytes:
        raise LimitExceeded(
            f"{what} of {size} bytes is over the limit of {limits.max_header_bytes}; "
            f"raise with --max-header-bytes"
        )


def _old_gnu_sparse(block: bytes, stream: ByteStream, limits: Limits) -> list[tuple[int, int]]:
    segs: list[tuple[int, int]] = []

    def take(area: bytes, count: int) -> None:
        for i in range(count):
            off = _num(area[i * 24 : i * 24 + 12])
            ln = _num(area[i * 24 + 12 : i * 24 + 24])
            if off or ln:
                segs.append((off, ln))

    take(block[386:482], 4)
    extended = block[482]
    blocks = 0
    while extended:
        blocks += 1
        _header_limit(blocks * BLOCK, limits, "a GNU sparse map")
        ext = stream.read(BLOCK)
        take(ext[:504], 21)
        extended = ext[504]
    return segs


def _sparse_numbers(fields: list[bytes]) -> list[int]:
    """Decimal numbers of a sparse map: digits only, each below 2**63."""
    for x in fields:
        if not x.isdigit() or len(x) > 19:
            raise TarError("corrupt sparse map")
    nums = [int(x) for x in fields]
    if any(n >= _INT64 for n in nums):
        raise TarError("corrupt sparse map")
    return nums


def _pax_sparse_map(pax: dict[str, bytes]) -> list[tuple[int, int]] | None:
    if "GNU.sparse.map" in pax:  # sparse 0.1 (and 0.0, gathered by _parse_pax)
        nums = _sparse_numbers([x for x in pax["GNU.sparse.map"].split(b",") if x])
        if len(nums) % 2:
            raise TarError("corrupt sparse map")
        return list(zip(nums[0::2], nums[1::2], strict=True))
    return None


def _read_sparse_1_0(
    stream: ByteStream, stored: int, limits: Limits
) -> tuple[list[tuple[int, int]], int]:
    """Sparse 1.0: a decimal map at the start of the data, padded to a block; returns map and
    bytes used. The map never reaches past the member's data, nor past --max-header-bytes."""
    parts: list[bytes] = []
    newlines = 0

    def need(k: int) -> list[bytes]:
        """The map's first k lines (reading blocks as needed)."""
        nonlocal newlines
        while newlines < k:
            if BLOCK * (len(parts) + 1) > stored:
                raise TarError("corrupt sparse map: it runs past the member's data")
            _header_limit(BLOCK * (len(parts) + 1), limits, "a sparse map")
            block = stream.read(BLOCK)
            parts.append(block)
            newlines += block.count(b"\n")
        return b"".join(parts).split(b"\n")[:k]

    (count,) = _sparse_numbers(need(1))
    nums = _sparse_numbers(need(1 + 2 * count)[1:])
    used = BLOCK * len(parts)
    return list(zip(nums[0::2], nums[1::2], strict=True)), used


def _check_range(m: TarMember) -> None:
    """Numbers the records store in 64-bit columns: anything wider is a corrupt header."""
    for value in (m.size, m.stored, m.uid, m.gid, m.mtime, m.devmajor, m.devminor):
        if not -_INT64 <= value < _INT64:
            raise TarError("corrupt tar header: a number is out of range")
    if m.size < 0:
        raise TarError("corrupt tar header: negative size")


def iter_members(
    stream: ByteStream, limits: Limits = DEFAULT_LIMITS, *, require_end: bool = False
) -> Iterator[TarMember]:
    """Yield each member; the caller may consume up to `member.stored` bytes of data before the
    next iteration, the rest (and the padding) is skipped. Ends at the end-of-archive marker or at
    a clean end of stream (an error with `require_end`, unless the stream is empty); raises
    TarError on corruption."""
    reader = TarReader(stream, limits, require_end=require_end)
    while (member := reader.next()) is not None:
        yield member


class Plain:
    """Plain members found by `TarReader.scan`, field by field: names and link targets as bytes,
    the typeflag bytes, the numbers (sizes, modes, uids, gids, mtimes, and where each member's
    data starts in the stream). A member's link target is kept only for hardlinks and
    symlinks, by its position among the members."""

    __slots__ = ("gids", "links", "modes", "mtimes", "names", "offsets", "sizes", "types", "uids")

    def __init__(self) -> None:
        self.names: list[bytes] = []
        self.types = bytearray()
        self.sizes: list[int] = []
        self.modes: list[int] = []
        self.uids: list[int] = []
        self.gids: list[int] = []
        self.mtimes: list[int] = []
        self.offsets: list[int] = []
        self.links: dict[int, bytes] = {}

    def __len__(self) -> int:
        return len(self.names)

    def slice(self, lo: int, hi: int) -> Plain:
        """The members at positions lo to hi (not included)."""
        out = Plain()
        out.names = self.names[lo:hi]
        out.types = self.types[lo:hi]
        out.sizes, out.modes = self.sizes[lo:hi], self.modes[lo:hi]
        out.uids, out.gids = self.uids[lo:hi], self.gids[lo:hi]
        out.mtimes, out.offsets = self.mtimes[lo:hi], self.offsets[lo:hi]
        out.links = {i - lo: link for i, link in self.links.items() if lo <= i < hi}
        return out


# typeflags `scan` takes: regular files (0, NUL, 7), hardlinks, symlinks, directories
PLAIN_TYPES = frozenset(b"0\x00712" + b"5")
_LINK_TYPES = frozenset(b"12")
_LONG_NAME, _LONG_LINK = ord("L"), ord("K")
_OCTAL = b"01234567"
_SHORT = 256  # longer than any name or link the header's own fields hold (100, 155 + "/" + 100)


class TarReader:
    """The members of a tar stream in order: one at a time with every feature (`next`), or, with
    a ChunkStream, as many plain ones as lie whole in its buffer at once (`scan`: the common
    case of a layer, several times cheaper per member). Both may be used in turn."""

    __slots__ = ("_end", "first", "global_pax", "limits", "require_end", "stream")

    def __init__(
        self, stream: ByteStream, limits: Limits = DEFAULT_LIMITS, *, require_end: bool = False
    ) -> None:
        self.stream = stream
        self.limits = limits
        self.require_end = require_end
        self.global_pax: dict[str, bytes] = {}
        self.first = True  # no header read yet
        self._end: tuple[int, int] | None = None  # the last member's (data offset, data end)

    def finish(self) -> None:
        """Skip what the caller left of the last member's data, and its padding."""
        if self._end is None:
            return
        data_offset, end = self._end
        self._end = None
        rest = end - self.stream.offset
        if rest < 0:
            raise TarError("internal: a caller read past a member's data")
        self.stream.skip(rest + (-(end - data_offset) % BLOCK))

    def scan(self, want: int) -> tuple[Plain, bytes, int]:
        """The plain members that lie whole (headers, data and padding) in the stream's next
        `want` bytes or more, up to the first that does not or is not plain: a file, directory,
        symlink or hardlink with octal numbers, an ASCII header and GNU long names at most (no
        PAX record applies). Returns them, the buffer their data lies in, and the stream offset
        of its first byte; the stream is left after them. None taken: `next` reads the next
        member. Each is exactly what `next` would make of it."""
        self.finish()
        stream = self.stream
        assert isinstance(stream, ChunkStream), "scan reads a ChunkStream's buffer"
        buf, pos = stream.window(want)
        base = stream.offset - pos
        found = Plain()
        if self.global_pax:
            return found, buf, base
        end = scan_plain(buf, pos, base, self.limits, found)
        if found.names:
            self.first = False
            stream.skip(end - pos)
        return found, buf, base

    def sync(self, want: int = 1 << 20) -> bool:
        """Go to the first header at or after the position of the stream (a ChunkStream, from a
        block boundary of the tar): the first block whose checksum holds and whose next header
        (after its data, if in the buffer) is one too, or the end. False if there is none. A
        block of file data can pass for one: whoever reads a tar in parts checks that the part
        before ends where this one found a member."""
        stream = self.stream
        assert isinstance(stream, ChunkStream), "sync reads a ChunkStream's buffer"
        while True:
            buf, pos = stream.window(want)
            n = len(buf)
            if n - pos < BLOCK:
                return False
            at = pos
            while at + BLOCK <= n:
                if not buf[at + 148 : at + 156].strip(_CHECKSUM_CHARS) and _header_at(buf, at):
                    stream.skip(at - pos)
                    return True
                at += BLOCK
            stream.skip(at - pos)

    def next(self) -> TarMember | None:
        """The next member (None at the end); the caller may consume up to `member.stored`
        bytes of its data before the next call."""
        self.finish()
        stream, limits = self.stream, self.limits
        long_name: bytes | None = None
        long_link: bytes | None = None
        pax: dict[str, bytes] | None = None
        global_pax = self.global_pax
        read_block = stream.read_block_or_eof
        while True:
            block = read_block()
            if block is None:
                if self.require_end and not self.first:
                    raise TarError(
                        "truncated: the tar stream ends without its end-of-archive marker"
                    )
                return None
            if block == ZERO_BLOCK:
                return None  # end of archive (a second zero block may follow; callers drain)
            if not _checksum_ok(block):
                if self.first:
                    raise TarError("not a tar archive (bad header checksum)")
                raise TarError(f"corrupt tar header at offset {stream.offset - BLOCK}")
            self.first = False
            flag = block[156:157]
            size = _num(block[124:136])
            if size < 0:
                raise TarError("corrupt tar header: negative size")
            if flag in (b"L", b"K", b"x", b"g"):
                _header_limit(size, limits)
                data = stream.read(size)
                stream.skip(-size % BLOCK)
                if flag == b"L":
                    long_name = data.split(b"\0", 1)[0]
                elif flag == b"K":
                    long_link = data.split(b"\0", 1)[0]
                elif flag == b"x":
                    pax = _parse_pax(data, limits)
                else:
                    # Global records apply to every later member; only the fields a member has
                    # are kept (git archive's comment, vendor keys and xattrs would be copied
                    # into every entry: a small header costing memory per entry).
                    for key, value in _parse_pax(data, limits).items():
                        if key in _GLOBAL_KEYS:
                            global_pax[key] = value
                continue
            if flag in (b"V", b"M", b"N"):  # volume label, multi-volume, old long names
                if flag == b"M":
                    raise TarError("multi-volume tar archives are not supported")
                stream.skip(size + (-size % BLOCK))
                continue
            return self._member(block, flag, size, long_name, long_link, pax)

    def _member(self, block: bytes, flag: bytes, size: int, long_name: bytes | None,
                long_link: bytes | None, pax: dict[str, bytes] | None) -> TarMember:  # fmt: skip
        """The member a header block describes (after its extension headers)."""
        stream, limits, global_pax = self.stream, self.limits, self.global_pax
        ptype = TYPEFLAGS.get(flag, "file")  # unknown types read as regular files (POSIX)
        if long_name is not None:
            name = long_name
        else:
            name = block[0:100].split(b"\0", 1)[0]
            if block[257:262] == b"ustar" and block[263:265] != b" \0":  # POSIX ustar: prefix
                prefix = block[345:500].split(b"\0", 1)[0]
                if prefix:
                    name = prefix + b"/" + name
        linkname = long_link if long_link is not None else block[157:257].split(b"\0", 1)[0]
        try:  # the common case: octal digits, then one terminator (as _num's fast path)
            mode, uid = int(block[100:107], 8), int(block[108:115], 8)
            gid, mtime = int(block[116:123], 8), int(block[136:147], 8)
        except ValueError:
            mode, uid = _num(block[100:108]), _num(block[108:116])
            gid, mtime = _num(block[116:124]), _num(block[136:148])
        member = TarMember(
            name=name,
            type=ptype,
            size=size,
            stored=size,
            mode=mode,
            uid=uid,
            gid=gid,
            mtime=mtime,
            linkname=linkname,
            devmajor=_num(block[329:337]) if ptype in ("char", "block") else 0,
            devminor=_num(block[337:345]) if ptype in ("char", "block") else 0,
            data_offset=0,
        )
        if flag == b"S":
            member.sparse = _old_gnu_sparse(block, stream, limits)
            member.size = _num(block[483:495])
        merged = {**global_pax, **pax} if pax is not None else (global_pax or None)
        if merged:
            _apply_pax(member, merged)
        if merged or _BASE256 & (block[100] | block[108] | block[116] | block[124] | block[136]
                                 | block[329] | block[337] | block[483]):  # fmt: skip
            _check_range(member)  # octal fields cannot leave the range
        if merged and merged.get("GNU.sparse.major") == b"1":
            member.sparse, used = _read_sparse_1_0(stream, member.stored, limits)
            member.stored -= used
        if len(member.name) > limits.max_path_length:
            _too_long("an entry name", member.name, limits)
        if len(member.linkname) > limits.max_path_length:
            _too_long("a link target", member.linkname, limits)
        member.data_offset = stream.offset
        self._end = (member.data_offset, stream.offset + member.stored)
        return member


_CHECKSUM_CHARS = b"01234567 \0"  # what a header's checksum field holds


def _header_at(buf: bytes, at: int) -> bool:
    """Whether the block at `at` is a header whose next header (if in `buf`) is one too."""
    block = buf[at : at + BLOCK]
    if block == ZERO_BLOCK or not _checksum_ok(block):
        return False
    try:
        size = _num(block[124:136])
    except TarError:
        return False
    after = at + BLOCK + ((size + BLOCK - 1) & -BLOCK)
    if size < 0:
        return False
    if after + BLOCK > len(buf):
        return True
    following = buf[after : after + BLOCK]
    return following == ZERO_BLOCK or _checksum_ok(following)


def scan_plain(buf: bytes, pos: int, base: int, limits: Limits, out: Plain) -> int:
    """Add to `out` the plain members lying whole in `buf` from `pos` (see `TarReader.scan`;
    `base`: the stream offset of `buf`), and return where the first one not taken starts. What
    `TarReader.next` checks and computes, in the same way (the same expressions on the same
    fields), for the headers it accepts: anything else (a header failing a fast check, a number
    `int` does not read, a name over the limit) stops the scan, and `next` reads that member,
    raising what it raises."""
    if limits.max_path_length < _SHORT:
        return pos  # names from the header's fields could be over the limit: `next` checks
    names, types, sizes, offsets = out.names, out.types, out.sizes, out.offsets
    add_name, add_type, add_size, add_offset = (
        names.append,
        types.append,
        sizes.append,
        offsets.append,
    )
    add_mode, add_uid, add_gid, add_mtime = (
        out.modes.append, out.uids.append, out.gids.append, out.mtimes.append
    )  # fmt: skip
    links = out.links
    adler = zlib.adler32
    owners: dict[bytes, tuple[int, int, int]] = {}  # the mode, uid, gid fields -> their values
    times: dict[bytes, int] = {}
    max_path, max_header = limits.max_path_length, limits.max_header_bytes
    long_name = long_link = None  # from GNU long name and long link blocks before a header
    n = len(buf)
    start = pos  # where the member being read starts (its long name blocks included)
    while pos + BLOCK <= n:
        block = buf[pos : pos + BLOCK]
        # an ASCII header sums to at most 512 * 127 < 65521, the modulus of adler32's low half:
        # that half is then 1 + the exact sum of the bytes
        if not block.isascii() or not block[0]:
            return start  # not ASCII, the end-of-archive marker, or a header with no name
        digits = block[148:154]
        if block[154] == 0 and block[155] == 32 and not digits.strip(_OCTAL):
            total = (adler(block) & 0xFFFF) - (adler(digits) & 0xFFFF) + 224  # 8 spaces - " \0"
            if total != int(digits, 8) and not _checksum_ok(block):
                return start
        elif not _checksum_ok(block):
            return start
        try:
            size = int(block[124:135], 8)
        except ValueError:
            return start
        data = pos + BLOCK
        after = data + ((size + BLOCK - 1) & -BLOCK)
        if after > n or size < 0:
            return start
        t = block[156]
        if t not in PLAIN_TYPES:
            if (t != _LONG_NAME and t != _LONG_LINK) or size > max_header:
                return start
            value = buf[data : data + size].split(b"\0", 1)[0]
            if t == _LONG_NAME:
                long_name = value
            else:
                long_link = value
            pos = after
            continue
        owner = block[100:124]
        ids = owners.get(owner)
        if ids is None:
            try:
                ids = int(owner[:7], 8), int(owner[8:15], 8), int(owner[16:23], 8)
            except ValueError:
                return start
            if min(ids) < 0:
                return start
            owners[owner] = ids
        mtime_field = block[136:148]
        mtime = times.get(mtime_field)
        if mtime is None:
            try:
                mtime = times[mtime_field] = int(mtime_field[:11], 8)
            except ValueError:
                return start
        if long_name is None:
            end = block.find(0, 0, 100)
            name = block[:end] if end >= 0 else block[:100]
            if block[345] and block[257:262] == b"ustar" and block[263:265] != b" \0":
                end = block.find(0, 345, 500)  # POSIX ustar: the prefix
                name = block[345 : end if end >= 0 else 500] + b"/" + name
        else:
            name = long_name
            if len(name) > max_path:
                return start
            long_name = None
        if long_link is not None:
            if len(long_link) > max_path:
                return start
            if t in _LINK_TYPES:
                links[len(names)] = long_link
            long_link = None
        elif t in _LINK_TYPES:
            end = block.find(0, 157, 257)
            links[len(names)] = block[157 : end if end >= 0 else 257]
        add_name(name)
        add_type(t)
        add_size(size)
        add_mode(ids[0])
        add_uid(ids[1])
        add_gid(ids[2])
        add_mtime(mtime)
        add_offset(base + data)
        pos = start = after
    return start


def _too_long(what: str, value: bytes, limits: Limits) -> None:
    raise LimitExceeded(
        f"{what} of {len(value)} bytes is over the limit of {limits.max_path_length}; "
        "raise with --max-path-length"
    )


def _apply_pax(m: TarMember, pax: dict[str, bytes]) -> None:
    m.pax = pax
    if "path" in pax:
        m.name = pax["path"]
    if "linkpath" in pax:
        m.linkname = pax["linkpath"]
    if "size" in pax:
        m.size = m.stored = _pax_int(pax, "size", m.size)
    m.uid = _pax_int(pax, "uid", m.uid)
    m.gid = _pax_int(pax, "gid", m.gid)
    m.mtime = _pax_int(pax, "mtime", m.mtime)
    if "GNU.sparse.name" in pax:
        m.name = pax["GNU.sparse.name"]
    if "GNU.sparse.realsize" in pax or "GNU.sparse.size" in pax:
        m.size = _pax_int(pax, "GNU.sparse.realsize", _pax_int(pax, "GNU.sparse.size", m.size))
        sparse = _pax_sparse_map(pax)  # 0.0 and 0.1 (1.0 keeps its map in the data)
        if sparse is not None:
            m.sparse = sparse
