"""Space shared between images: by layer (same diff_id) and below the layers, by file content
(the same bytes in layers with different digests, as after a rebuild of a base image)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from layerscope.model.image import Image, Layer
from layerscope.read.records import F_META, FILE


@dataclass
class SharedLayer:
    diff_id: str
    size: int
    images: list[int]


@dataclass
class SharedContent:
    """One content found in two or more distinct layers used by different images."""

    digest: str
    size: int
    layers: list[str]  # diff_ids of the distinct layers that store it
    images: list[int]
    paths: list[str]

    @property
    def extra_bytes(self) -> int:
        """Bytes stored beyond the first copy: what a shared base layer would have saved."""
        return self.size * (len(self.layers) - 1)


@dataclass
class Sharing:
    layers: list[SharedLayer]
    stored_bytes: int  # sum of size over distinct layers
    unshared_bytes: int  # sum of every image's size, as if nothing were shared
    shared_bytes: int  # sum of size over distinct layers used by two or more images
    unique_bytes: list[int]  # per image: sum of size of layers no other image uses
    contents: list[SharedContent] = field(default_factory=list)

    @property
    def saved_bytes(self) -> int:
        """What sharing layers saves: unshared bytes minus stored bytes."""
        return self.unshared_bytes - self.stored_bytes

    def image_shared_bytes(self, at: int) -> int:
        """Sum of the sizes of the distinct layers of the image at place `at` (of the images
        given to `sharing`) that another image uses."""
        return sum(s.size for s in self.layers if at in s.images and len(s.images) > 1)

    @property
    def file_shared_bytes(self) -> int:
        return sum(c.extra_bytes for c in self.contents)

    def as_dict(self) -> dict:
        return {
            "layers": [
                {"diff_id": s.diff_id, "size": s.size, "images": s.images} for s in self.layers
            ],
            "stored_bytes": self.stored_bytes,
            "unshared_bytes": self.unshared_bytes,
            "shared_bytes": self.shared_bytes,
            "unique_bytes": self.unique_bytes,
            "file_shared_bytes": self.file_shared_bytes,
            "file_shared": [
                {
                    "digest": c.digest,
                    "size": c.size,
                    "layers": c.layers,
                    "images": c.images,
                    "paths": c.paths,
                }
                for c in self.contents[:100]
            ],
        }


def sharing(images: Sequence[Image]) -> Sharing:
    by_diff: dict[str, SharedLayer] = {}
    for at, img in enumerate(images):  # an image is named by its place in `images`
        for layer in img.layers:
            s = by_diff.get(layer.diff_id)
            if s is None:
                s = by_diff[layer.diff_id] = SharedLayer(layer.diff_id, layer.size, [])
            if at not in s.images:
                s.images.append(at)
    layers = list(by_diff.values())
    unique = []
    for at in range(len(images)):
        unique.append(sum(s.size for s in layers if s.images == [at]))
    return Sharing(
        layers=layers,
        stored_bytes=sum(s.size for s in layers),
        unshared_bytes=sum(img.size for img in images),
        shared_bytes=sum(s.size for s in layers if len(s.images) > 1),
        unique_bytes=unique,
        contents=_shared_contents(images, by_diff),
    )


def _shared_contents(
    images: Sequence[Image], by_diff: dict[str, SharedLayer]
) -> list[SharedContent]:
    """Contents that two or more images store in different layers."""
    if len(images) < 2:
        return []
    seen_layers: dict[str, Layer] = {}
    for img in images:
        for layer in img.layers:
            seen_layers.setdefault(layer.diff_id, layer)
    found: dict[bytes, SharedContent] = {}
    for diff_id, layer in seen_layers.items():
        li = layer.index
        imgs = by_diff[diff_id].images
        for row in range(len(li)):
            if li.types[row] != FILE or li.flags[row] & F_META or li.sizes[row] == 0:
                continue
            d = li.digest_at(row)
            c = found.get(d)
            if c is None:
                found[d] = SharedContent(
                    "sha256:" + d.hex(), li.sizes[row], [diff_id], list(imgs), [li.paths[row]]
                )
            elif diff_id not in c.layers:
                c.layers.append(diff_id)
                c.images.extend(i for i in imgs if i not in c.images)
                if li.paths[row] not in c.paths:
                    c.paths.append(li.paths[row])
    # Counted where no single layer holding the content serves every image that has it: the
    # images store it in layers of their own (as after a rebuild of a common base).
    out = [
        c
        for c in found.values()
        if len(c.layers) > 1
        and len(c.images) > 1
        and not any(set(by_diff[d].images) >= set(c.images) for d in c.layers)
    ]
    for c in out:
        c.images.sort()
    out.sort(key=lambda c: (-c.extra_bytes, c.digest))
    return out
