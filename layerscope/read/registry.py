"""An image in a registry, read through the distribution API as if it were an OCI layout: the
manifest asked by tag or digest becomes the layout's `index.json`, every manifest, index and
config it names is fetched (bounded, its digest checked) when the layout reader asks for it, and
each layer is a `BlobLocation` whose bytes stream from the registry into the layer reader (in
any process), nothing written but the cache. So indexes, manifest lists, platforms and
attestations are chosen exactly as for archives (formats.py).

Manifests and configs named by digest are kept in the cache (content-addressed, checked before
they are kept), and the manifest a tag named last, so that a re-open costs one manifest
request, and `--offline` none. Schema 1 manifests are refused."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from typing import BinaryIO

from layerscope.errors import Cancelled, DigestMismatch, FormatError, LayerscopeError
from layerscope.limits import DEFAULT_LIMITS, Limits
from layerscope.read.layerreader import BlobLocation
from layerscope.read.reference import Reference, parse
from layerscope.read.registryauth import Auth, stored_credentials
from layerscope.read.registryhttp import NETWORK_ERRORS, Http, RegistryError, Response
from layerscope.read.registryoptions import BlobKeeper, BlobWriter, DocStore, RegistryOptions
from layerscope.read.sources import Missing, Source

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5",
        "application/vnd.docker.distribution.manifest.v1+json;q=0.5",
    ]
)
SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+prettyjws",
           "application/vnd.docker.distribution.manifest.v1+json")  # fmt: skip
RESUMES = 8  # times a blob's download resumes after a dropped connection without progress
OCI_LAYOUT = b'{"imageLayoutVersion": "1.0.0"}'


class Registry:
    """One repository of one registry: requests with the auth it asks for."""

    def __init__(self, ref: Reference, options: RegistryOptions) -> None:
        self.ref = ref
        plain = ref.is_local or ref.domain in options.insecure or ref.hostname in options.insecure
        self.http = Http(ref.host, plain_ok=plain)
        self.docs = options.docs
        if plain and self.docs is not None:  # how this host answered last time: no probe
            known = self.docs.read_doc(self._scheme_key)
            if known in (b"http", b"https"):
                self.http.scheme = known.decode()
        creds = options.creds or stored_credentials(ref)
        self.auth = Auth(self.http, creds)
        self.lock = threading.Lock()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["lock"]
        state["docs"] = None  # the cache stays with the process that opened it
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.lock = threading.Lock()

    @property
    def _scheme_key(self) -> str:
        return f"scheme|{self.ref.host}"

    def _remember_scheme(self) -> None:
        if self.http.plain_ok and self.docs is not None and self.http.scheme is not None:
            self.docs.write_doc(self._scheme_key, self.http.scheme.encode())

    @property
    def scope(self) -> str:
        return f"repository:{self.ref.repository}:pull"

    def url(self, kind: str, what: str) -> str:
        return f"{self.http.base()}/v2/{self.ref.repository}/{kind}/{what}"

    def get(self, kind: str, what: str, headers: dict[str, str] | None = None) -> Response:
        """GET a manifest or a blob, answering the registry's auth challenge once (a token that
        expired during a long run is replaced so)."""
        url = self.url(kind, what)
        for _attempt in range(2):
            resp = self.http.request(
                "GET", url, headers, auth=lambda _u: self.auth.headers(self.scope)
            )
            if resp.status != 401:
                return resp
            challenge = resp.header("WWW-Authenticate")
            resp.close()
            with self.lock:
                if not self.auth.answer(challenge, self.scope):
                    break
        raise RegistryError(self._refused(401))

    def _refused(self, status: int) -> str:
        where = f"{self.ref.repository} on registry {self.ref.domain}"
        if status == 401:
            how = "these credentials were refused" if self.auth.creds else "it asks for credentials"
            return f"{where}: {how} (401); log in with docker login / podman login, or --creds"
        return f"{where}: access denied (403); check the name and your rights to pull it"

    def check(self, resp: Response, what: str) -> None:
        """A clear error for an answer that is not a success."""
        if resp.status in (200, 206):
            return
        resp.close()
        if resp.status in (401, 403):
            raise RegistryError(self._refused(resp.status))
        if resp.status == 404:
            raise RegistryError(
                f"{what} not found on registry {self.ref.domain} (404): check the repository "
                f"{self.ref.repository!r} and the tag or digest"
            )
        reason = http.client.responses.get(resp.status, "")
        raise RegistryError(
            f"registry {self.ref.domain} answered {resp.status} {reason} for {what}"
        )

    def manifest(self, wanted: str, limit: int) -> tuple[bytes, str | None, str | None]:
        """(bytes, media type, the digest the registry says) of a manifest or an index."""
        probed = self.http.scheme is None
        try:
            resp = self.get("manifests", wanted, {"Accept": ACCEPT})
        except RegistryError:
            if not probed and self.http.plain_ok:  # the host changed since: probe again
                self.http.scheme = None
                resp = self.get("manifests", wanted, {"Accept": ACCEPT})
            else:
                raise
        if probed:
            self._remember_scheme()
        self.check(resp, f"manifest {wanted}")
        media = (resp.header("Content-Type") or "").split(";")[0].strip() or None
        said = resp.header("Docker-Content-Digest")
        data = resp.read_bounded(limit, f"the manifest {wanted}")
        return data, media, said

    def blob(self, digest: str, limit: int) -> bytes:
        resp = self.get("blobs", digest)
        self.check(resp, f"blob {digest}")
        return resp.read_bounded(limit, f"the config {digest}")


@dataclass(frozen=True)
class RemoteBlob:
    """A layer blob in a registry: opened as a stream (from an offset) in whatever process
    reads it. Its identity, for the cache, is its digest: content-addressed and verified."""

    registry: Registry = field(repr=False)
    digest: str
    size: int
    offline: bool = False
    keeper: BlobKeeper | None = field(default=None, repr=False)
    since: float = 0.0  # when the run began: a blob it kept needs no check

    @property
    def identity(self) -> str:
        return f"registry|{self.digest}|{self.size}"

    def open(self, start: int = 0) -> BinaryIO:
        if self.keeper is not None:
            kept = self.keeper.open(self.digest, self.size, start, self.since)
            if kept is not None:
                return kept
        if self.offline:
            raise LayerscopeError(
                f"layer {self.digest} is not in the cache, and --offline fetches nothing"
            )
        return BlobStream(self, start)  # type: ignore[return-value]


class BlobStream:
    """A blob's bytes from `start`, read as a file is; a dropped connection is resumed with a
    Range request where it stopped (RESUMES times without progress at most)."""

    def __init__(self, blob: RemoteBlob, start: int) -> None:
        self.blob = blob
        self.pos = start
        self.resp: Response | None = None
        self.failures = 0
        # a whole read is written into the cache as it comes, and kept once its digest is
        # checked (registryoptions.BlobKeeper)
        self.copy: BlobWriter | None = None
        if blob.keeper is not None and start == 0:
            self.copy = blob.keeper.start(blob.digest)
        # a read from the start is hashed as it streams (its reader takes this digest instead
        # of hashing the bytes again: `blob_digest`)
        self.hash = hashlib.sha256() if start == 0 else None

    def _open(self) -> Response:
        reg = self.blob.registry
        headers = {"Range": f"bytes={self.pos}-"} if self.pos else {}
        resp = reg.get("blobs", self.blob.digest, headers)
        reg.check(resp, f"layer {self.blob.digest}")
        if self.pos and resp.status == 200:  # the Range was ignored: skip what was read
            skip = self.pos
            while skip:
                got = resp.read(min(skip, 1 << 20))
                if not got:
                    break
                skip -= len(got)
        return resp

    def read(self, n: int = -1) -> bytes:
        if self.pos >= self.blob.size:
            return b""
        want = self.blob.size - self.pos if n < 0 else min(n, self.blob.size - self.pos)
        while True:
            try:
                if self.resp is None:
                    self.resp = self._open()
                chunk = self.resp.read_some(want)
            except NETWORK_ERRORS as e:
                if isinstance(e, RegistryError):
                    raise
                chunk = b""
            if chunk:
                self.pos += len(chunk)
                self.failures = 0
                if self.hash is not None:
                    self.hash.update(chunk)
                if self.copy is not None:
                    self._copy(chunk)
                return chunk
            # the connection dropped (or ended early): resume where it stopped
            self._drop()
            self.failures += 1
            if self.failures > RESUMES + 1:
                raise Cancelled()  # aborted
            if self.failures > RESUMES:
                raise RegistryError(
                    f"registry {self.blob.registry.ref.domain}: the download of layer "
                    f"{self.blob.digest} kept failing at byte {self.pos} of {self.blob.size}"
                )

    def _copy(self, chunk: bytes) -> None:
        assert self.copy is not None
        if not self.copy.write(chunk):
            self.copy = None  # the cache cannot take it: read on without keeping
            return
        if self.pos == self.blob.size:
            if self.blob_digest() == self.blob.digest:
                self.copy.commit()
            else:
                self.copy.discard()
            self.copy = None

    def blob_digest(self) -> str | None:
        """ "sha256:..." of the blob, once it was read from its start to its end."""
        if self.hash is None or self.pos != self.blob.size:
            return None
        return "sha256:" + self.hash.hexdigest()

    def _drop(self) -> None:
        if self.resp is not None:
            with contextlib.suppress(*NETWORK_ERRORS):
                self.resp.close()
            self.resp = None

    def close(self) -> None:
        self._drop()
        if self.copy is not None:
            self.copy.discard()
            self.copy = None

    def abort(self) -> None:
        """Cut the download from another thread: a read waiting for bytes returns at once, and
        no resume follows."""
        self.failures = RESUMES + 1
        resp = self.resp
        if resp is not None:
            resp.abort()

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistrySource(Source):
    """A registry image seen as an OCI layout (see the module's note). Its layer blobs are
    kept in the cache while it is open, and let go when it closes unless `--keep-blobs`."""

    format = "registry"

    def __init__(
        self, name: str, options: RegistryOptions, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        super().__init__(name, limits)
        self.ref = parse(name)
        self.options = options
        self.registry = Registry(self.ref, options)
        self.docs: dict[str, bytes] = {}  # digest -> a manifest, index or config, checked
        self.kinds: dict[str, str] = {}  # digest -> "manifest", "blob" or "layer"
        self.sizes: dict[str, int] = {}  # digest -> size its descriptor says
        # layer blobs are kept in the cache while the run lasts (the secret scan, previews and
        # exports read them there); those not kept before are let go at the end, unless
        # --keep-blobs (digest -> whether it was kept before)
        self._had: dict[str, bool] = {}
        self.opened = time.time()
        self.top, self.top_type = self._top()
        self._learn(self.top)

    # -- documents ------------------------------------------------------------------------------
    def _store(self) -> DocStore | None:
        return self.options.docs

    def _top(self) -> tuple[str, str | None]:
        """The manifest (or index) the reference names: its digest and media type."""
        ref, store = self.ref, self._store()
        ref_key = f"ref|{ref}"
        if self.options.offline:
            if ref.digest:
                digest = ref.digest
            else:
                known = store.read_doc(ref_key) if store else None
                if known is None:
                    raise LayerscopeError(
                        f"{ref} is not in the cache, and --offline fetches nothing: open it "
                        f"once without --offline"
                    )
                digest = known.decode("ascii", "replace")
            data = self._cached_doc(digest)
            if data is None:
                raise LayerscopeError(
                    f"the manifest {digest} is not in the cache, and --offline fetches nothing"
                )
            return digest, _media_type(data)
        data, media, said = self.registry.manifest(ref.wanted, self.limits.max_json_bytes)
        if media in SCHEMA1 or _schema_version(data) == 1:  # its digest is not of its bytes
            raise FormatError(
                f"{ref} has a schema 1 manifest (deprecated, and without the layers' diff_ids); "
                f"push it again with a current docker, podman or skopeo"
            )
        digest = _sha256(data)
        if ref.digest and digest != ref.digest:
            raise DigestMismatch(
                f"the manifest's digest is {digest}, the reference says {ref.digest}"
            )
        if not ref.digest and said and said.startswith("sha256:") and said != digest:
            raise DigestMismatch(f"the manifest's digest is {digest}, the registry says {said}")
        media = _media_type(data) or media
        self.docs[digest] = data
        if store is not None:  # written only when new: a re-open writes nothing
            if store.read_doc(f"doc|{digest}") != data:
                store.write_doc(f"doc|{digest}", data)
            if not ref.digest and store.read_doc(ref_key) != digest.encode("ascii"):
                store.write_doc(ref_key, digest.encode("ascii"))
        return digest, media

    def _cached_doc(self, digest: str) -> bytes | None:
        store = self._store()
        data = store.read_doc(f"doc|{digest}") if store is not None else None
        if data is None or _sha256(data) != digest:
            return None
        self.docs[digest] = data
        return data

    def _learn(self, digest: str) -> None:
        """What a manifest or index names: child manifests, its config, its layers."""
        try:
            doc = json.loads(self.docs[digest])
        except (ValueError, UnicodeDecodeError, RecursionError):
            return  # the layout reader says what is wrong with it
        if not isinstance(doc, dict):
            return
        children = doc.get("manifests")
        if isinstance(children, list):
            for d in children:
                self._note(d, "manifest")
        self._note(doc.get("config"), "blob")
        layers = doc.get("layers")
        if isinstance(layers, list):
            for d in layers:
                self._note(d, "layer")

    def _note(self, desc: object, kind: str) -> None:
        if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str):
            return
        digest = desc["digest"]
        self.kinds.setdefault(digest, kind)
        if isinstance(desc.get("size"), int) and desc["size"] >= 0:
            self.sizes.setdefault(digest, desc["size"])

    def _fetch(self, digest: str) -> bytes:
        if digest in self.docs:
            return self.docs[digest]
        data = self._cached_doc(digest)
        if data is not None:
            return data
        if self.options.offline:
            raise LayerscopeError(f"{digest} is not in the cache, and --offline fetches nothing")
        limit = self.limits.max_json_bytes
        if self.kinds.get(digest) == "manifest":
            data, _media, _said = self.registry.manifest(digest, limit)
        else:
            data = self.registry.blob(digest, limit)
        if _sha256(data) != digest:
            raise DigestMismatch(
                f"{digest}: the registry sent a document whose digest is {_sha256(data)}"
            )
        self.docs[digest] = data
        store = self._store()
        if store is not None:
            store.write_doc(f"doc|{digest}", data)
        if self.kinds.get(digest) == "manifest":
            self._learn(digest)
        return data

    def close(self) -> None:
        keeper = self.options.keeper
        if keeper is not None:
            for digest, had in self._had.items():
                if not had:
                    keeper.forget(digest)
        self._had.clear()
        super().close()

    # -- the layout ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        return ["oci-layout", "index.json"]

    def exists(self, path: str) -> bool:
        return (
            path in ("oci-layout", "index.json")
            or _digest_of(path) in self.kinds
            or (_digest_of(path) == self.top)
        )

    def read_json_bytes(self, path: str) -> bytes:
        if path == "oci-layout":
            return OCI_LAYOUT
        if path == "index.json":
            desc: dict[str, object] = {"digest": self.top, "size": len(self.docs[self.top])}
            if self.top_type:
                desc["mediaType"] = self.top_type
            desc["annotations"] = {"io.containerd.image.name": str(self.ref)}
            return json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode()
        digest = _digest_of(path)
        if digest is None or (digest not in self.kinds and digest != self.top):
            raise Missing(f"{path} is not named by the image's manifests")
        return self._fetch(digest)

    def locate(self, path: str) -> BlobLocation:
        digest = _digest_of(path)
        if digest is None or self.kinds.get(digest) != "layer":
            raise Missing(f"{path} is not a layer of the image")
        size = self.sizes.get(digest)
        if size is None:
            raise FormatError(f"layer {digest} has no size in its manifest")
        keeper = self.options.keeper
        if keeper is not None and digest not in self._had and not self.options.keep_blobs:
            self._had[digest] = keeper.has(digest)
        remote = RemoteBlob(self.registry, digest, size, self.options.offline, keeper, self.opened)
        # one blob per registry and digest: images of several repositories share it
        return BlobLocation(f"{self.ref.domain}/{digest}", 0, size, remote)


def _digest_of(path: str) -> str | None:
    prefix = "blobs/sha256/"
    if path.startswith(prefix) and len(path) == len(prefix) + 64:
        return "sha256:" + path[len(prefix) :]
    return None


def _field(data: bytes, key: str) -> object:
    """A top-level field of a JSON document (None if it is not a JSON object)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return doc.get(key) if isinstance(doc, dict) else None


def _media_type(data: bytes) -> str | None:
    media = _field(data, "mediaType")
    return media if isinstance(media, str) else None


def _schema_version(data: bytes) -> int | None:
    version = _field(data, "schemaVersion")
    return version if isinstance(version, int) else None
