"""The slimmed image written as the real tools write it (docs/slim.md): docker-archive
(`manifest.json`, `repositories`, `<hex>.json` config, `<hex>.tar` layers, as `podman save`
writes it), oci-archive (a tar of an OCI layout) or an OCI layout directory (`oci-layout`,
`index.json`, `blobs/sha256/`). Kept layers are copied byte for byte from their source blobs;
the squashed layer is written first to a scratch file beside the destination (its digest names
it), then placed."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from layerscope.errors import LayerscopeError
from layerscope.insight.export import current_umask
from layerscope.model.image import Image, Layer
from layerscope.read.layerreader import BlobLocation
from layerscope.read.sources import looks_like_reference
from layerscope.version import __version__
from layerscope.write import destination
from layerscope.write.layertar import BLOCK_SIZE, END, Written, padding, write_layer
from layerscope.write.plan import SlimPlan

FORMATS = ("docker-archive", "oci-archive", "oci-dir")
CHUNK = 1 << 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
_LAYER_SUFFIX = {"none": "", "gzip": "+gzip", "zstd": "+zstd"}
REF_NAME = "org.opencontainers.image.ref.name"

ProgressFn = Callable[[int, int], object]  # (bytes written, bytes to write)


@dataclass
class Blob:
    """A layer blob of the written image."""

    digest: str
    size: int
    diff_id: str
    compression: str
    kept: bool  # copied from the source image (else: the squashed layer)


@dataclass
class SlimResult:
    """What was written."""

    dest: str
    format: str
    keep: int
    tag: str | None
    layers: list[Blob] = field(default_factory=list)
    config_digest: str = ""
    squashed: Written | None = None

    @property
    def stored_size(self) -> int:
        """The bytes of the written image's distinct layer blobs."""
        return sum({b.digest: b.size for b in self.layers}.values())


def default_tag(image: Image) -> str | None:
    """The source's first name with `-slim` added to its tag (`app:1` -> `app:1-slim`)."""
    ref = image.ref
    if not ref or "@" in ref:
        return None
    name, tag = split_tag(ref)
    return f"{name}:{tag}-slim"


def split_tag(ref: str) -> tuple[str, str]:
    """(name, tag) of `name[:tag]` (tag `latest` when absent)."""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def check_tag(tag: str) -> str:
    """`--tag`: an image reference without a digest (`name[:tag]`); `:latest` added."""
    if not looks_like_reference(tag) or "@" in tag:
        raise LayerscopeError(f"--tag {tag}: not an image name (name[:tag], lower case)")
    name, t = split_tag(tag)
    return f"{name}:{t}"


def new_config(image: Image, slim: SlimPlan, squashed: Written) -> bytes:
    """The source config with its rootfs and history made to match the new layers: the steps
    that made the squashed layers kept, marked empty, and one step saying what was squashed;
    everything else (env, entrypoint, labels, user, workdir...) as it was."""
    doc: dict[str, Any] = copy.deepcopy(image.config.raw)
    keep, n = slim.keep, len(image.layers)
    doc["rootfs"] = {
        "type": "layers",
        "diff_ids": [ly.diff_id for ly in image.layers[:keep]] + [squashed.diff_id],
    }
    history = [dict(h) for h in doc.get("history") or []]
    if image.config.history_aligned:
        made = 0
        for step in history:
            if step.get("empty_layer"):
                continue
            if made >= keep:
                step["empty_layer"] = True
            made += 1
    squashed_steps = f"layer {keep}" if keep == n - 1 else f"layers {keep}-{n - 1}"
    made_by: dict[str, Any] = {
        "created_by": f"layerscope slim: {squashed_steps} squashed into one",
        "comment": f"layerscope {__version__}: {slim.saved} bytes of files removed",
    }
    if isinstance(doc.get("created"), str):
        made_by = {"created": doc["created"], **made_by}
    history.append(made_by)
    doc["history"] = history
    return json.dumps(doc, separators=(",", ":")).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def _kept_digest(layer: Layer) -> str:
    d = layer.digest
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", d):
        raise LayerscopeError(f"layer {layer.position}: its blob has no sha256 digest")
    return d


def _media_type(compression: str, position: int | None) -> str:
    if compression not in _LAYER_SUFFIX:
        which = f"layer {position} is" if position is not None else "the layer is"
        raise LayerscopeError(
            f"{which} {compression}-compressed: OCI has no media type for it "
            "(--format docker-archive keeps it)"
        )
    return OCI_LAYER + _LAYER_SUFFIX[compression]


class _Outer:
    """An archive written member by member (the outer tar of docker-archive and oci-archive),
    ending as Go's archive/tar ends one."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.mtime = int(time.time())

    def _header(self, name: str, size: int, type_: bytes = tarfile.REGTYPE) -> None:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime, ti.type = (
            size,
            0o644 if type_ != tarfile.DIRTYPE else 0o755,
            self.mtime,
            type_,
        )
        self.out.write(ti.tobuf(tarfile.PAX_FORMAT))

    def add_dir(self, name: str) -> None:
        self._header(name + "/", 0, tarfile.DIRTYPE)

    def add_bytes(self, name: str, data: bytes) -> None:
        self._header(name, len(data))
        self.out.write(data)
        self.out.write(bytes(padding(len(data))))

    def add_region(self, name: str, loc: BlobLocation, progress: Callable[[int], object]) -> None:
        self._header(name, loc.size)
        copy_region(loc, self.out, progress)
        self.out.write(bytes(padding(loc.size)))

    def begin_blob(self) -> int:
        """Room for a member's header, written by `end_blob` once its name and size are known
        (a GNU header: one block whatever the size; names here fit in it)."""
        at = self.out.tell()
        self.out.write(bytes(BLOCK_SIZE))
        return at

    def end_blob(self, at: int, name: str, size: int) -> None:
        self.out.write(bytes(padding(size)))
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = size, 0o644, self.mtime
        head = ti.tobuf(tarfile.GNU_FORMAT)
        assert len(head) == BLOCK_SIZE, name
        end = self.out.tell()
        self.out.seek(at)
        self.out.write(head)
        self.out.seek(end)

    def drop_blob(self, at: int) -> None:
        self.out.seek(at)
        self.out.truncate()

    def close(self) -> None:
        self.out.write(END)


def copy_region(loc: BlobLocation, out: BinaryIO, progress: Callable[[int], object]) -> None:
    """Copy a blob to `out` (where it stands): in the kernel where it can (copy_file_range,
    a file on disk), else a piece at a time (a registry's blob streams in)."""
    out.flush()
    left = loc.size
    with loc.open() as f:
        if loc.remote is None:
            dst = out.fileno()
            at = loc.offset
            copy_range = getattr(os, "copy_file_range", None)
            while left and copy_range is not None:
                try:
                    n = copy_range(f.fileno(), dst, min(CHUNK * 64, left), at)
                except OSError:
                    break  # not between these files: the plain way
                if n == 0:
                    raise LayerscopeError(_shorter(loc))
                at += n
                left -= n
                progress(n)
            out.seek(0, os.SEEK_END)  # the kernel moved the file's offset: the writer learns it
            f.seek(at)
        while left:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                raise LayerscopeError(_shorter(loc))
            out.write(chunk)
            left -= len(chunk)
            progress(len(chunk))


def _shorter(loc: BlobLocation) -> str:
    return f"{loc.file}: shorter than the image says (the archive changed?)"


class _Writer:
    """One written image (see `write_image`)."""

    def __init__(self, image: Image, slim: SlimPlan, fmt: str, compression: str,
                 tag: str | None, progress: ProgressFn | None) -> None:  # fmt: skip
        self.image, self.slim, self.fmt = image, slim, fmt
        self.compression, self.tag = compression, tag
        self.kept = image.layers[: slim.keep]
        self.total = slim.squashed_size + sum(
            {ly.spec.location: ly.stored_size for ly in self.kept}.values()
        )
        self.done = 0
        self._progress = progress

    def step(self, n: int) -> None:
        self.done += n
        if self._progress is not None:
            self._progress(self.done, self.total)

    def squashed(self, out: BinaryIO) -> Written:
        base = self.done
        return write_layer(self.image, self.slim, out, self.compression,
                           lambda n: self._set(base + n))  # fmt: skip

    def _set(self, done: int) -> None:
        self.done = done
        if self._progress is not None:
            self._progress(done, self.total)

    def blobs(self, squashed: Written) -> list[Blob]:
        out = []
        for ly in self.kept:
            c = ly.compression or "none"
            out.append(Blob(_kept_digest(ly), ly.stored_size, ly.diff_id, c, True))
        out.append(Blob(squashed.digest, squashed.blob_size, squashed.diff_id,
                        squashed.compression, False))  # fmt: skip
        if self.fmt != "docker-archive":
            for i, b in enumerate(out):
                _media_type(b.compression, i if b.kept else None)
        return out

    def oci_docs(self, config: bytes, blobs: list[Blob]) -> tuple[bytes, bytes]:
        """(manifest, index.json) of an OCI layout."""
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [
                {"mediaType": _media_type(b.compression, None), "digest": b.digest, "size": b.size}
                for b in blobs
            ],
        }
        mbytes = json.dumps(manifest, separators=(",", ":")).encode()
        desc: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": _digest(mbytes),
                                "size": len(mbytes)}  # fmt: skip
        if self.tag:
            desc["annotations"] = {REF_NAME: self.tag}
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc]}
        return mbytes, json.dumps(index, separators=(",", ":")).encode()

    def docker_docs(self, config: bytes, blobs: list[Blob]) -> tuple[bytes, bytes]:
        """(manifest.json, repositories) of a docker-archive."""
        manifest = [
            {
                "Config": _hex(_digest(config)) + ".json",
                "RepoTags": [self.tag] if self.tag else [],
                "Layers": [_hex(b.digest) + ".tar" for b in blobs],
            }
        ]
        repos: dict[str, dict[str, str]] = {}
        if self.tag:
            name, t = split_tag(self.tag)
            repos[name] = {t: _hex(blobs[-1].digest)}
        return (json.dumps(manifest, separators=(",", ":")).encode(),
                json.dumps(repos, separators=(",", ":")).encode())  # fmt: skip


def write_image(
    image: Image,
    slim: SlimPlan,
    dest: str,
    *,
    fmt: str = "docker-archive",
    compression: str = "none",
    tag: str | None = None,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> SlimResult:
    """Write the slimmed image to `dest` (see the module's docstring); nothing is left there on
    failure or interrupt, and an existing `dest` is replaced only with `force`."""
    if fmt not in FORMATS:
        raise LayerscopeError(f"--format {fmt}: must be one of {', '.join(FORMATS)}")
    for ly in image.layers[: slim.keep]:
        if fmt != "docker-archive":
            _media_type(ly.compression or "none", ly.position)
        _kept_digest(ly)
    w = _Writer(image, slim, fmt, compression, tag, progress)
    result = SlimResult(dest=dest, format=fmt, keep=slim.keep, tag=tag)
    if fmt == "oci-dir":
        with destination.temporary_dir(dest, force) as root:
            _write_oci_dir(w, root, result)
        return result
    with (
        destination.temporary_file(dest, force) as (_tmp, fd),
        os.fdopen(fd, "wb", closefd=False) as out,
    ):
        _write_archive(w, out, result)
    return result


def _write_archive(w: _Writer, out: BinaryIO, result: SlimResult) -> None:
    """The outer tar: the kept blobs copied, the squashed layer written in place (its
    member's header written once its digest and size are known), then the documents."""
    tar = _Outer(out)
    if w.fmt != "docker-archive":
        tar.add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        tar.add_dir("blobs")
        tar.add_dir("blobs/sha256")

    def member(digest: str) -> str:
        return (
            _hex(digest) + ".tar" if w.fmt == "docker-archive" else "blobs/sha256/" + _hex(digest)
        )

    seen: set[str] = set()
    for ly in w.kept:
        name = member(_kept_digest(ly))
        if name not in seen:
            seen.add(name)
            loc = ly.spec.location
            tar.add_region(name, loc, w.step)
    at = tar.begin_blob()
    squashed = w.squashed(out)
    name = member(squashed.digest)
    if name in seen:  # the very blob of a kept layer: not twice
        tar.drop_blob(at)
    else:
        tar.end_blob(at, name, squashed.blob_size)
    blobs = w.blobs(squashed)
    config = new_config(w.image, w.slim, squashed)
    result.layers, result.config_digest, result.squashed = blobs, _digest(config), squashed
    if w.fmt == "docker-archive":
        manifest, repos = w.docker_docs(config, blobs)
        tar.add_bytes(_hex(_digest(config)) + ".json", config)
        tar.add_bytes("manifest.json", manifest)
        tar.add_bytes("repositories", repos)
    else:
        manifest, index = w.oci_docs(config, blobs)
        tar.add_bytes("blobs/sha256/" + _hex(_digest(config)), config)
        tar.add_bytes("blobs/sha256/" + _hex(_digest(manifest)), manifest)
        tar.add_bytes("index.json", index)
    tar.close()
    out.flush()


def _write_oci_dir(w: _Writer, root: str, result: SlimResult) -> None:
    blobs_dir = os.path.join(root, "blobs", "sha256")
    os.makedirs(blobs_dir)
    scratch, sfd = destination.scratch_file(blobs_dir)
    try:
        with os.fdopen(sfd, "wb") as blob:
            squashed = w.squashed(blob)
            blob.flush()
        os.chmod(scratch, 0o644 & ~_umask())
        os.replace(scratch, os.path.join(blobs_dir, _hex(squashed.digest)))
    finally:
        destination.remove_scratch(scratch)
    blobs = w.blobs(squashed)
    config = new_config(w.image, w.slim, squashed)
    result.layers, result.config_digest, result.squashed = blobs, _digest(config), squashed
    for ly, b in zip(w.kept, blobs, strict=False):
        path = os.path.join(blobs_dir, _hex(b.digest))
        if os.path.exists(path):
            continue
        loc = ly.spec.location
        with open(path, "xb") as f:
            copy_region(loc, f, w.step)
    manifest, index = w.oci_docs(config, blobs)
    for data in (config, manifest):
        with open(os.path.join(blobs_dir, _hex(_digest(data))), "wb") as f:
            f.write(data)
    with open(os.path.join(root, "oci-layout"), "wb") as f:
        f.write(b'{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(root, "index.json"), "wb") as f:
        f.write(index)


def _umask() -> int:
    return current_umask()
