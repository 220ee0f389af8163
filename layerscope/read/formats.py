"""Find the images in a container of images, told by content (docs/formats.md 1-10): docker-archive
(`manifest.json`), OCI image layout (`oci-layout` + `index.json`, nested indexes, platforms,
attestations, absent blobs) and podman's docker-dir (`version` + a single manifest)."""

from __future__ import annotations

import hashlib
import platform as _platform
import re
from dataclasses import dataclass, field
from typing import Any

from layerscope.errors import DigestMismatch, FormatError, LimitExceeded
from layerscope.limits import DEFAULT_LIMITS
from layerscope.read.config import (
    ImageConfig,
    check_digest,
    json_object,
    load_json,
    parse_config,
)
from layerscope.read.layerreader import BlobLocation
from layerscope.read.sources import DirSource, Source

_BLOB_PATH = re.compile(r"(?:.*/)?blobs/sha256/([a-f0-9]{64})")
INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
MANIFEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
}


class PlatformError(FormatError):
    """The platform asked for (or, unasked, this machine's) is not in a multi-platform index:
    an answer to the user's choice, never a reason to fall back to manifest.json."""


@dataclass
class LayerSpec:
    """A layer as the image describes it, before its blob is read."""

    index: int
    diff_id: str
    digest: str | None  # the blob digest the manifest claims (None if the format has none)
    location: BlobLocation
    member: str  # the blob's name in the archive, for messages
    media_type: str | None = None


@dataclass
class ImageSpec:
    """An image found in the archive: its names, config and layers, unread."""

    source: str
    format: str
    refs: list[str]
    config_digest: str
    config: ImageConfig
    layers: list[LayerSpec]
    notes: list[str] = field(default_factory=list)
    max_symlink_hops: int = DEFAULT_LIMITS.max_symlink_hops  # for the union filesystem
    max_decoder_memory: int = DEFAULT_LIMITS.max_decoder_memory  # to read a layer's files again
    apply: str = "overlay"  # how its layers are applied: "overlay" or "follow" (model/filesystem)

    @property
    def ref(self) -> str | None:
        return self.refs[0] if self.refs else None

    @property
    def platform(self) -> str:
        return self.config.platform


def machine_platform() -> str:
    m = _platform.machine().lower()
    arch = {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "armv7l": "arm/v7",
        "armv6l": "arm/v6",
        "i686": "386",
        "i386": "386",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
        "riscv64": "riscv64",
    }.get(m, m)
    return f"linux/{arch}"


def _str(v: object) -> str | None:
    """A string field of a hostile document: anything else (a number, a huge nested structure)
    is as good as absent."""
    return v if isinstance(v, str) else None


def _platform_str(p: Any) -> str | None:
    if not isinstance(p, dict):
        return None
    s = f"{_str(p.get('os')) or ''}/{_str(p.get('architecture')) or ''}"
    variant = _str(p.get("variant"))
    return f"{s}/{variant}" if variant else s


class _Budget:
    """What reading one archive may cost beyond its bytes: layer positions (each costs a pass
    over the layer's entries when the image is analysed), and documents read once however many
    images name them (a manifest.json can name one 4 MiB config 100,000 times)."""

    def __init__(self, source: Source) -> None:
        self.limits = source.limits
        self.layers = 0
        self.docs: dict[tuple[str, str | None], tuple[int, Any]] = {}
        self.configs: dict[tuple[str, str | None], tuple[int, str, ImageConfig]] = {}

    def take_layers(self, n: int, what: str) -> None:
        """An image of n layers (one without layers counts as one)."""
        self.layers += max(n, 1)
        if self.layers > self.limits.max_layers:
            raise LimitExceeded(
                f"{what}: over {self.limits.max_layers} image layers in one archive (an image "
                f"without layers counts one); raise with --max-layers"
            )


def _platform_matches(have: str, want: str) -> bool:
    if have == want:
        return True
    # "linux/arm64" matches "linux/arm64/v8"; "linux/arm" matches "linux/arm/v7"
    return have.startswith(want + "/") or want.startswith(have + "/")


def find_images(
    source: Source, *, platform: str | None = None, verify: bool = True
) -> list[ImageSpec]:
    """Every image in the source, in archive order."""
    names = set(source.names()) if not isinstance(source, DirSource) else None
    budget = _Budget(source)

    def has(p: str) -> bool:
        return p in names if names is not None else source.exists(p)

    if has("index.json") and has("oci-layout"):
        try:
            images = _OciReader(source, platform, verify, budget).read()
        except FormatError as e:
            if not has("manifest.json") or isinstance(e, PlatformError):
                raise
            budget.layers = 0
            # Docker 25+: fall back (docs/formats.md 1)
            images = _docker_archive(source, verify, budget)
            for img in images:
                img.notes.append(f"index.json unusable ({e.message}); read manifest.json")
            return images
        if has("manifest.json"):
            _merge_repo_tags(source, images)
            for img in images:
                img.format = "docker-archive+oci"
        return images
    if has("manifest.json"):
        doc = load_json(source.read_json_bytes("manifest.json"), "manifest.json")
        if isinstance(doc, dict) and "schemaVersion" in doc:
            return [_docker_dir(source, doc, verify, budget)]
        return _docker_archive(source, verify, budget, doc)
    if has("index.json"):
        return _OciReader(source, platform, verify, budget).read()
    raise FormatError(
        "not a saved image: found neither manifest.json nor index.json"
        + (" (an empty archive)" if names is not None and not names else "")
    )


def _read_verified(source: Source, member: str, digest: str | None, verify: bool) -> bytes:
    data = source.read_json_bytes(member)
    if verify and digest is not None:
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if got != digest:
            raise DigestMismatch(f"{member}: digest is {got}, expected {digest}")
    return data


def _check_size(member: str, got: int, size: object, verify: bool) -> None:
    if verify and isinstance(size, int) and size != got:
        raise FormatError(f"{member}: size is {got}, the descriptor says {size}")


def _config(
    source: Source,
    member: str,
    digest: str | None,
    verify: bool,
    budget: _Budget,
    size: object = None,
) -> tuple[str, ImageConfig]:
    key = (member, digest)
    cached = budget.configs.get(key)
    if cached is None:  # one config named by many images is read once, and shared
        data = _read_verified(source, member, digest, verify)
        cached = len(data), "sha256:" + hashlib.sha256(data).hexdigest(), parse_config(data, member)
        budget.configs[key] = cached
    _check_size(member, cached[0], size, verify)
    return cached[1], cached[2]


def _docker_archive(
    source: Source, verify: bool, budget: _Budget, doc: Any = None
) -> list[ImageSpec]:
    if doc is None:
        doc = load_json(source.read_json_bytes("manifest.json"), "manifest.json")
    if not isinstance(doc, list) or not doc:
        raise FormatError("manifest.json lists no images")
    images = []
    for n, item in enumerate(doc):
        what = f"manifest.json image {n}"
        if not isinstance(item, dict) or not isinstance(item.get("Config"), str):
            raise FormatError(f"{what} has no Config")
        layers = item.get("Layers")
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise FormatError(f"{what} has no Layers list")
        budget.take_layers(len(layers), what)
        cfg_path = item["Config"]
        m = _BLOB_PATH.fullmatch(cfg_path)
        config_digest, config = _config(
            source, cfg_path, f"sha256:{m.group(1)}" if m else None, verify, budget
        )
        if len(layers) != len(config.diff_ids):
            raise FormatError(
                f"{what} lists {len(layers)} layers but its config has "
                f"{len(config.diff_ids)} diff_ids"
            )
        specs = []
        for i, (path, diff_id) in enumerate(zip(layers, config.diff_ids, strict=True)):
            m = _BLOB_PATH.fullmatch(path)
            specs.append(
                LayerSpec(
                    index=i,
                    diff_id=diff_id,
                    digest=f"sha256:{m.group(1)}" if m else None,
                    location=source.locate(path),
                    member=path,
                )
            )
        tags = item.get("RepoTags")
        refs = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
        images.append(ImageSpec(source.name, "docker-archive", refs, config_digest, config, specs))
    return images


def _merge_repo_tags(source: Source, images: list[ImageSpec]) -> None:
    """Docker 25+ writes both layouts: manifest.json's RepoTags are the friendlier names."""
    try:
        doc = load_json(source.read_json_bytes("manifest.json"), "manifest.json")
    except FormatError:
        return
    if not isinstance(doc, list):
        return
    by_config = {}
    for item in doc:
        if isinstance(item, dict) and isinstance(item.get("Config"), str):
            m = _BLOB_PATH.fullmatch(item["Config"])
            tags = item.get("RepoTags")
            if m and isinstance(tags, list):
                by_config[f"sha256:{m.group(1)}"] = [t for t in tags if isinstance(t, str)]
    for img in images:
        tags = by_config.get(img.config_digest)
        if tags:
            img.refs = tags


def _docker_dir(source: Source, doc: dict, verify: bool, budget: _Budget) -> ImageSpec:
    """podman's docker-dir: `manifest.json` is one image manifest; blobs are named by bare hex."""
    cfg = doc.get("config")
    if not isinstance(cfg, dict):
        raise FormatError("manifest.json has no config descriptor")
    cdigest = check_digest(cfg.get("digest"), "the config digest")
    descs = doc.get("layers")
    if isinstance(descs, list):
        budget.take_layers(len(descs), "manifest.json")
    config_digest, config = _config(
        source, cdigest.split(":", 1)[1], cdigest, verify, budget, cfg.get("size")
    )
    if not isinstance(descs, list) or len(descs) != len(config.diff_ids):
        raise FormatError("manifest.json's layers do not match the config's diff_ids")
    specs = []
    for i, (d, diff_id) in enumerate(zip(descs, config.diff_ids, strict=True)):
        digest = check_digest(d.get("digest") if isinstance(d, dict) else None, "a layer digest")
        hexd = digest.split(":", 1)[1]
        specs.append(
            LayerSpec(i, diff_id, digest, source.locate(hexd), hexd, _str(d.get("mediaType")))
        )
    return ImageSpec(source.name, "docker-dir", [], config_digest, config, specs)


def _blob_path(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


class _OciReader:
    def __init__(self, source: Source, platform: str | None, verify: bool, budget: _Budget) -> None:
        self.source = source
        self.platform = platform
        self.verify = verify
        self.budget = budget
        self.notes: list[str] = []

    def _doc(self, desc: dict | None, member: str, digest: str | None) -> dict:
        key = (member, digest)
        cached = self.budget.docs.get(key)
        if cached is None:  # one manifest or index named many times is read once
            data = _read_verified(self.source, member, digest, self.verify)
            cached = len(data), load_json(data, member)
            self.budget.docs[key] = cached
        _check_size(member, cached[0], desc.get("size") if desc is not None else None, self.verify)
        doc = cached[1]
        if not isinstance(doc, dict):
            raise FormatError(f"{member} is not a JSON object")
        return doc

    def read(self) -> list[ImageSpec]:
        top = self._doc(None, "index.json", None)
        manifests = top.get("manifests")
        if not isinstance(manifests, list):
            raise FormatError("index.json has no manifests list")
        images: list[ImageSpec] = []
        seen: dict[str, ImageSpec] = {}
        for desc in manifests:
            if not isinstance(desc, dict):
                raise FormatError("index.json: a manifest descriptor is not an object")
            if _is_attestation(desc):
                continue
            digest = check_digest(desc.get("digest"), "index.json: a manifest digest")
            refs = _refs(desc)
            if digest in seen:  # one digest listed once per tag (docs/formats.md 7)
                seen[digest].refs += [r for r in refs if r not in seen[digest].refs]
                continue
            if not self.source.exists(_blob_path(digest)):
                self.notes.append(f"{digest} is listed in index.json but absent")
                continue
            img = self._image(desc, digest, refs, depth=0, chain=())
            if img is not None:
                seen[digest] = img
                images.append(img)
        if not images:
            detail = "; ".join(self.notes) if self.notes else "index.json lists no image"
            raise FormatError(f"no readable image: {detail}")
        for img in images:
            img.notes.extend(self.notes)
        return images

    def _image(
        self, desc: dict, digest: str, refs: list[str], depth: int, chain: tuple[str, ...]
    ) -> ImageSpec | None:
        if depth > self.source.limits.max_index_depth:
            raise LimitExceeded(
                f"indexes nested too deeply (over {self.source.limits.max_index_depth}); "
                f"raise with --max-index-depth"
            )
        if digest in chain:
            raise FormatError(f"index cycle through {digest}")
        doc = self._doc(desc, _blob_path(digest), digest)
        mt = _str(desc.get("mediaType")) or _str(doc.get("mediaType"))
        if mt in INDEX_TYPES or (mt not in MANIFEST_TYPES and "manifests" in doc):
            child = self._choose(doc, digest)
            if child is None:
                return None
            cdigest = check_digest(child.get("digest"), "a manifest digest")
            return self._image(child, cdigest, refs, depth + 1, (*chain, digest))
        if "layers" not in doc or "config" not in doc:
            self.notes.append(f"{digest}: not an image manifest ({mt}); skipped")
            return None
        return self._manifest(doc, refs)

    def _choose(self, index: dict, digest: str) -> dict | None:
        """Pick a platform from an index (docs/formats.md 6): the asked one, the only one, or ours."""
        cands = []
        absent = []
        manifests = index.get("manifests")
        if not isinstance(manifests, list):
            raise FormatError(f"index {digest} has no manifests list")
        for d in manifests:
            if not isinstance(d, dict) or _is_attestation(d):
                continue
            dg = check_digest(d.get("digest"), "a manifest digest")
            plat = _platform_str(d.get("platform")) or "unknown"
            if self.source.exists(_blob_path(dg)):
                cands.append((plat, d))
            else:
                absent.append(plat)
        want = self.platform
        if want:
            for plat, d in cands:
                if _platform_matches(plat, want):
                    return d
            if any(_platform_matches(p, want) for p in absent):
                raise PlatformError(f"platform {want} is listed, but its blobs are absent")
            have = ", ".join(p for p, _ in cands) or "none"
            raise PlatformError(f"no image for platform {want} (present: {have})")
        if absent:
            self.notes.append("platforms listed but absent: " + ", ".join(sorted(set(absent))))
        if len(cands) == 1:
            return cands[0][1]
        if not cands:
            self.notes.append(f"index {digest}: no platform's blobs are present")
            return None
        mine = machine_platform()
        for plat, d in cands:
            if _platform_matches(plat, mine):
                return d
        raise PlatformError(
            "several platforms and none is this machine's ("
            + ", ".join(p for p, _ in cands)
            + "): choose one with --platform"
        )

    def _manifest(self, doc: dict, refs: list[str]) -> ImageSpec:
        cfg = doc.get("config")
        if not isinstance(cfg, dict):
            raise FormatError("a manifest has no config descriptor")
        cdigest = check_digest(cfg.get("digest"), "a config digest")
        descs = doc["layers"]
        if isinstance(descs, list):
            self.budget.take_layers(len(descs), "index.json")
        config_digest, config = _config(
            self.source, _blob_path(cdigest), cdigest, self.verify, self.budget, cfg.get("size")
        )
        if not isinstance(descs, list) or len(descs) != len(config.diff_ids):
            raise FormatError(
                f"a manifest lists {len(descs) if isinstance(descs, list) else 'no'} layers "
                f"but its config has {len(config.diff_ids)} diff_ids"
            )
        specs = []
        for i, (d, diff_id) in enumerate(zip(descs, config.diff_ids, strict=True)):
            if not isinstance(d, dict):
                raise FormatError("a layer descriptor is not an object")
            digest = check_digest(d.get("digest"), "a layer digest")
            loc = self.source.locate(_blob_path(digest))
            if self.verify and isinstance(d.get("size"), int) and d["size"] != loc.size:
                raise FormatError(
                    f"layer {i} blob is {loc.size} bytes, the manifest says {d['size']}"
                )
            specs.append(
                LayerSpec(i, diff_id, digest, loc, _blob_path(digest), _str(d.get("mediaType")))
            )
        return ImageSpec(self.source.name, "oci", refs, config_digest, config, specs)


def _is_attestation(desc: dict) -> bool:
    ann = json_object(desc.get("annotations"))
    if ann.get("vnd.docker.reference.type") == "attestation-manifest":
        return True
    plat = desc.get("platform")
    return isinstance(plat, dict) and plat.get("os") == "unknown"


def _refs(desc: dict) -> list[str]:
    ann = json_object(desc.get("annotations"))
    for key in ("io.containerd.image.name", "org.opencontainers.image.ref.name"):
        v = ann.get(key)
        if isinstance(v, str) and v:
            return [v]
    return []
