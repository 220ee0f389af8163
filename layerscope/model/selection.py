"""Which images a run is about: what `--image` names, checked the same way in every mode (the
report, the CI verdict, export, the app, the compare view), with errors that say what to do.

Images are numbered from 1 for people (`--image 1` is the first, as the app's title counts
them); a selector that is not a number is a name (exact, or the part after the last `/`) or a
config digest (`sha256:` and at least 6 hex digits, or 6 or more hex digits alone).
"""

from __future__ import annotations

from collections.abc import Sequence

from layerscope.errors import LayerscopeError
from layerscope.model.image import Image
from layerscope.text import visible

LISTED = 10  # images named in a message; the rest are counted
_HEX = frozenset("0123456789abcdef")
MIN_DIGEST = 6  # hex digits a digest prefix needs: `--image a` is a name, not a digest


def listing(images: Sequence[Image]) -> str:
    """`1 a:1, 2 b:1, 3 sha256:0123456789ab`: the images one can pick, numbered from 1, for
    messages (names made visible: a hostile tag cannot forge a line or drive the terminal)."""
    shown = ", ".join(f"{i} {visible(img.name)}" for i, img in enumerate(images[:LISTED], 1))
    if len(images) > LISTED:
        shown += f" and {len(images) - LISTED:,} more"
    return shown


def there_are(images: Sequence[Image]) -> str:
    """`there are 3 images: 1 a:1, 2 b:1, 3 c:1` (or `there is 1 image: ...`)."""
    n = len(images)
    return f"there {'is' if n == 1 else 'are'} {n:,} image{'' if n == 1 else 's'}: " + listing(
        images
    )


def _number(images: Sequence[Image], img: Image) -> int:
    return next(i for i, other in enumerate(images, 1) if other is img)


def _digest_matches(img: Image, selector: str) -> bool:
    hexpart = selector.removeprefix("sha256:").lower()
    if len(hexpart) < MIN_DIGEST or not _HEX.issuperset(hexpart):
        return False
    return img.config_digest.startswith("sha256:" + hexpart)


def _name_matches(img: Image, selector: str) -> bool:
    return selector in img.refs or any(r.rsplit("/", 1)[-1] == selector for r in img.refs)


def select_image(images: Sequence[Image], selector: str | None) -> Image:
    """The image `--image SELECTOR` names (None: the first). A number counts from 1; a name or
    digest that fits several images is refused (their numbers tell them apart)."""
    if not images:
        raise LayerscopeError("no image found")
    if selector is None:
        return images[0]
    shown = visible(selector)
    if selector.isascii() and selector.isdigit():
        n = int(selector) if len(selector) <= 18 else len(images) + 1  # (int() caps digits)
        if n == 0:
            raise LayerscopeError(
                f"--image {shown}: images are numbered from 1; {there_are(images)}"
            )
        if n > len(images):
            raise LayerscopeError(f"--image {shown}: no image {shown}; {there_are(images)}")
        return images[n - 1]
    found = [img for img in images if _name_matches(img, selector)]
    if not found:
        found = [img for img in images if _digest_matches(img, selector)]
    if not found:
        raise LayerscopeError(f"--image {shown}: no such image; {there_are(images)}")
    if len(found) > 1:
        numbers = ", ".join(str(_number(images, img)) for img in found)
        raise LayerscopeError(
            f"--image {shown} names {len(found)} images ({numbers}): give a number instead; "
            f"{there_are(images)}"
        )
    return found[0]


def select_images(images: Sequence[Image], selectors: Sequence[str]) -> list[Image]:
    """The images several `--image` name, in the order given, each once; every image when
    none is given."""
    if not selectors:
        return list(images)
    out: list[Image] = []
    for selector in selectors:
        img = select_image(images, selector)
        if all(img is not other for other in out):
            out.append(img)
    return out


def compare_pair(
    images: Sequence[Image], selectors: Sequence[str], *, first_two: bool = False
) -> tuple[Image, Image]:
    """The two images `--compare` compares: the two `--image` given, in that order; without
    `--image`, the only two there are (or, with `first_two`, the first two: the app allows it,
    since its pickers change them)."""
    sel = list(selectors)
    if not images:
        raise LayerscopeError("no image found")
    if len(images) == 1:
        raise LayerscopeError(
            f"--compare needs two images and there is one ({visible(images[0].name)}): give "
            "two archives, or an archive of several images"
        )
    if len(sel) == 2:
        a, b = select_image(images, sel[0]), select_image(images, sel[1])
        if a is b:
            raise LayerscopeError(
                f"--compare: --image {visible(sel[0])} and --image {visible(sel[1])} both name "
                f"image {_number(images, a)}: pick two different images; {there_are(images)}"
            )
        return a, b
    if len(sel) > 2:
        raise LayerscopeError(
            f"--compare compares two images, and --image is given {len(sel)} times: give it "
            f"twice; {there_are(images)}"
        )
    if len(sel) == 1:
        raise LayerscopeError(
            "--compare needs two images and --image names one: give --image twice (numbered "
            f"from 1); {there_are(images)}"
        )
    if len(images) == 2 or first_two:
        return images[0], images[1]
    raise LayerscopeError(
        f"--compare needs two images and {there_are(images)}; pick two with --image N twice "
        "(numbered from 1)"
    )
