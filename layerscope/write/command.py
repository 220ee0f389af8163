"""`layerscope slim`: what the command prints and does once its image is read (cli.py parses
the command line and opens the image). Every name from the image is printed through
text.visible: a name cannot forge a line."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

from layerscope.errors import LayerscopeError
from layerscope.model.image import Image
from layerscope.text import one_line, visible
from layerscope.write import destination
from layerscope.write.imagefiles import SlimResult, check_tag, default_tag, write_image
from layerscope.write.layertar import tar_size
from layerscope.write.plan import (
    COUNT_WORDS,
    SlimPlan,
    check_keep,
    default_keep,
    options,
    plan,
)

DEFAULT_COMPRESSION = {"docker-archive": "none", "oci-archive": "gzip", "oci-dir": "gzip"}


@dataclass
class SlimArgs:
    """What `layerscope slim` was asked."""

    to: str | None
    keep: int | None = None
    format: str = "docker-archive"
    compress: str | None = None
    tag: str | None = None
    dry_run: bool = False
    force: bool = False


def b(n: int) -> str:
    """An exact byte count: `1,234,567 B`."""
    return f"{n:,} B"


def table(image: Image, chosen: int, out: TextIO) -> None:
    """Slimming from every layer: the layers kept and the bytes saved."""
    print("  keep  layers kept  kept bytes        new layer         saved", file=out)
    for o in options(image):
        mark = "*" if o.keep == chosen else " "
        kept = "none" if o.keep == 0 else ("0" if o.keep == 1 else f"0-{o.keep - 1}")
        print(f"{mark} {o.keep:>4}  {kept:<11}  {b(o.kept_bytes):>16}  {b(o.squashed_bytes):>14}"
              f"  {b(o.saved):>12}", file=out)  # fmt: skip


def describe(image: Image, slim: SlimPlan, compression: str, out: TextIO) -> int:
    """The chosen plan's figures; returns the new layer's tar bytes."""
    n = len(image.layers)
    kept = (
        "no layer kept"
        if slim.keep == 0
        else ("layer 0 kept" if slim.keep == 1 else f"layers 0-{slim.keep - 1} kept")
    )
    parts = ", ".join(f"{v:,} {COUNT_WORDS[k][v != 1]}" for k, v in slim.counts.items())
    squashed = f"layer {slim.keep}" if slim.keep == n - 1 else f"layers {slim.keep}-{n - 1}"
    print(f"keep {slim.keep}: {kept}, {squashed} squashed into one ({parts or 'empty'})",
          file=out)  # fmt: skip
    print(f"  size {b(slim.size_before)} -> {b(slim.size_after)}: {b(slim.saved)} saved; "
          f"reclaimable {b(slim.reclaimable_before)} -> {b(slim.reclaimable_after)}",
          file=out)  # fmt: skip
    tar = tar_size(slim.index)
    kept_blobs = sum(
        {ly.spec.location: ly.stored_size for ly in image.layers[: slim.keep]}.values()
    )
    if compression == "none":
        print(f"  layer blobs: {b(kept_blobs)} kept + {b(tar)} new = {b(kept_blobs + tar)}",
              file=out)  # fmt: skip
    else:
        print(f"  layer blobs: {b(kept_blobs)} kept + the new layer's tar ({b(tar)}) "
              f"{compression}-compressed: its size is known once written", file=out)  # fmt: skip
    return tar


def run(image: Image, args: SlimArgs, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the plan (every possible keep, then the chosen one) and, unless a dry run, write."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    keep = default_keep(image) if args.keep is None else args.keep
    try:
        check_keep(image, keep)
    except ValueError as e:
        raise LayerscopeError(str(e)) from None
    compression = args.compress or DEFAULT_COMPRESSION[args.format]
    tag = check_tag(args.tag) if args.tag else default_tag(image)
    if not args.dry_run:  # a destination that will be refused is said before any plan
        if not args.to:
            raise LayerscopeError("slim needs --to OUT, the image to write (or --dry-run)")
        destination.check(args.to, args.format == "oci-dir", args.force)
    name = visible(image.name)
    print(f"{visible(image.source)}: {name}, {len(image.layers)} layers, size "
          f"{b(image.size)}, reclaimable {b(image.reclaimable_bytes)}", file=out)  # fmt: skip
    if args.dry_run:
        table(image, keep, out)
    slim = plan(image, keep)
    describe(image, slim, compression, out)
    if args.dry_run or not args.to:
        return 0
    show = _Progress(err, args.to)
    result = write_image(image, slim, args.to, fmt=args.format, compression=compression,
                         tag=tag, force=args.force, progress=show)  # fmt: skip
    show.end()
    report(result, out)
    return 0


def report(result: SlimResult, out: TextIO) -> None:
    """What was written."""
    sq = result.squashed
    assert sq is not None
    tag = f" as {visible(result.tag)}" if result.tag else ""
    print(f"wrote {visible(result.dest)} ({result.format}){tag}: {len(result.layers)} layers, "
          f"config {result.config_digest}", file=out)  # fmt: skip
    comp = "" if sq.compression == "none" else f", blob {b(sq.blob_size)} {sq.compression}"
    print(f"  new layer {sq.digest}: tar {b(sq.tar_size)}{comp}", file=out)
    print(f"  layer blobs: {b(result.stored_size)}", file=out)


class _Progress:
    """A progress line on a terminal (standard error), at most every 0.2 s; nothing elsewhere."""

    def __init__(self, err: TextIO, dest: str) -> None:
        self.err = err
        self.tty = err.isatty()
        self.dest = one_line(visible(dest), 60)
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.tty or now - self.last < 0.2:
            return
        self.last = now
        pct = 100 * done // total if total else 100
        self.err.write(f"\rwriting {self.dest}: {pct:3}% ({b(done)} of {b(total)})\x1b[K")
        self.err.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
