"""The command line: open the UI, write the JSON report, or give a CI verdict.

Exit status: 0 success (CI: every rule passed), 1 a CI rule failed, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from importlib import resources
from typing import TYPE_CHECKING, NoReturn

from layerscope import lifecycle
from layerscope.errors import LayerscopeError
from layerscope.limits import DEFAULT_LIMITS, Limits, size_text
from layerscope.model.archive import Archive, discover
from layerscope.model.filesystem import APPLY_MODES, OVERLAY
from layerscope.model.image import Image
from layerscope.model.selection import compare_pair, select_image, select_images
from layerscope.output.ci_rules import RULES, default_text, parse_size
from layerscope.read.registryoptions import RegistryOptions, parse_creds
from layerscope.text import one_line, visible
from layerscope.version import __version__

if TYPE_CHECKING:
    from layerscope.insight.compare import Comparison
    from layerscope.insight.export import ExportResult

Pair = tuple[Image, Image]

EXIT_OK, EXIT_ERROR = 0, 2  # a failed CI rule: 1 (output.ci)


def _error(message: str) -> None:
    print(f"layerscope: {one_line(message)}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        _error(message)
        sys.exit(EXIT_ERROR)


def demo_path() -> str:
    """The built-in sample: a small real image made by podman (see tests/fixtures/real)."""
    return str(resources.files("layerscope") / "data" / "demo.tar.gz")


def build_parser() -> argparse.ArgumentParser:
    """The command line's options (the CI rules' from output.ci_rules.RULES)."""
    p = _Parser(
        prog="layerscope",
        description="See inside saved container images: layers, what hides what, wasted bytes.",
        epilog="layerscope slim IMAGE --to OUT: write the image without its dead bytes "
        "(layerscope slim -h).",
    )
    p.add_argument(
        "archives",
        nargs="*",
        metavar="ARCHIVE",
        help="a saved image (docker save, podman save, skopeo, OCI layout dir), '-' for standard "
        "input, or an image reference (name[:tag][@digest], not a path) for docker or podman to "
        "save",
    )
    p.add_argument("--demo", action="store_true", help="open the built-in sample image")
    p.add_argument("--json", metavar="FILE", help="write the JSON report to FILE ('-': stdout)")
    p.add_argument(
        "--no-files", action="store_true", help="leave the files lists out of the report"
    )
    p.add_argument(
        "--ci",
        action="store_true",
        help="print a verdict and exit 0/1/2; no UI. Its first line says which rules run: "
        "without a .dive-ci or a rule flag, dive's defaults; layerscope's own rules are off",
    )
    p.add_argument(
        "--ci-config",
        metavar="FILE",
        help="dive's .dive-ci rules file (default: ./.dive-ci when present); the rule flags "
        "override it",
    )
    for rule in RULES:
        p.add_argument(
            rule.flag, metavar=rule.metavar, help=f"CI: {rule.help} ({default_text(rule)})"
        )
    p.add_argument(
        "--compare",
        action="store_true",
        help="compare two images (the only two there are, or --image N twice): the compare "
        "view, or with --json a comparison in the report",
    )
    p.add_argument(
        "--image",
        action="append",
        metavar="N|REF",
        help="the image to show or export, N counted from 1 (1: the first) or a name or digest; "
        "repeat for --compare, or to report and judge only those images (--json, --ci)",
    )
    p.add_argument(
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        help="platform to pick from a multi-platform index",
    )
    p.add_argument(
        "--apply",
        choices=APPLY_MODES,
        default=OVERLAY,
        help="how layers are applied: 'overlay' as overlay-based storage does (Docker, "
        "containerd, podman's overlay driver: each layer's entries at their own paths), or "
        "'follow' through the symlinks of lower layers (podman's vfs driver, umoci) (overlay)",
    )
    p.add_argument(
        "--fail-on-through-symlink",
        action="store_true",
        help="CI: fail when an entry is placed differently by overlay storage and by an applier "
        "that follows lower symlinks (default: a warning)",
    )
    p.add_argument(
        "--fail-on-secrets",
        action="store_true",
        help="CI: fail on any file that looks like a credential, visible ones too (default: "
        "only those a later layer hides fail, visible ones warn)",
    )
    p.add_argument(
        "--allow-secrets",
        action="store_true",
        help="CI: secrets only warn, even those a later layer hides",
    )
    p.add_argument(
        "--source",
        choices=("docker", "podman", "archive", "registry"),
        help="where ARCHIVE comes from (default: a file if it exists; else a registry for "
        "'host/name[:tag]' or 'docker://REF'; else docker or podman)",
    )
    reg = p.add_argument_group("registries")
    reg.add_argument(
        "--creds",
        metavar="USER[:PASS]",
        help="credentials for the registry (without :PASS, the password is read from standard "
        "input); default: those of docker login / podman login",
    )
    reg.add_argument(
        "--insecure",
        metavar="HOST",
        action="append",
        help="allow plain HTTP and an untrusted certificate for this registry host[:port] "
        "(repeatable; a registry on localhost is always allowed plain HTTP)",
    )
    reg.add_argument(
        "--keep-blobs",
        action="store_true",
        help="keep the layer blobs fetched from registries in the cache (bounded with it), so "
        "previews and exports read them from there",
    )
    reg.add_argument(
        "--offline",
        action="store_true",
        help="open registry images from the cache alone (what an earlier run fetched)",
    )
    p.add_argument(
        "--no-verify", action="store_true", help="skip the blob digest and diff_id checks"
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="read every layer again instead of using the cache of layer indexes",
    )
    p.add_argument(
        "--export", metavar="PATH", help="write PATH (a file or directory) out of the image"
    )
    p.add_argument(
        "--layer", type=int, metavar="N", help="--export: as of layer N (default: the last)"
    )
    p.add_argument("--to", metavar="DIR", help="--export: the destination directory")
    p.add_argument("--overwrite", action="store_true", help="--export: replace existing files")
    p.add_argument(
        "--serve",
        action="store_true",
        help="serve the app to a web browser on localhost (needs layerscope[web])",
    )
    p.add_argument(
        "--port",
        type=int,
        default=8000,
        metavar="N",
        help="--serve: the port (8000; 0: any free one)",
    )
    p.add_argument(
        "--max-sessions",
        type=int,
        default=4,
        metavar="N",
        help="--serve: most browser sessions (app processes) at once (4)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--version", action="version", version=f"layerscope {__version__}")
    _add_limit_flags(p)
    return p


# The limit flags (limits.py), with their help; sizes take units (`300GiB`, `2TB`).
_LIMIT_FLAGS = (
    ("max_json_bytes", "largest manifest/index/config"),
    ("max_header_bytes", "largest tar extended header (PAX, long name, sparse map)"),
    ("max_entries", "most entries in one layer (4x: in all images, each use counted)"),
    ("max_members", "most members in the outer archive"),
    ("max_layers", "most layers in the images of one archive, each use counted"),
    ("max_path_length", "longest entry name or link target, in bytes"),
    ("max_symlink_hops", "symlinks followed for one path"),
    ("max_index_depth", "nesting of OCI indexes"),
    ("max_layer_bytes", "most bytes a layer makes layerscope read: tar and sparse holes"),
    (
        "max_archive_bytes",
        "the same, all layers of an archive (each use counted); and the most "
        "a compressed archive decompresses to",
    ),
    ("max_ratio", "most decompressed bytes per stored byte of a layer or a compressed archive"),
    ("max_decoder_memory", "memory a zstd or xz stream may ask for"),
)
_SIZE_LIMITS = {"max_json_bytes", "max_header_bytes", "max_layer_bytes", "max_archive_bytes",
                "max_decoder_memory"}  # fmt: skip


def _add_limit_flags(p: argparse.ArgumentParser) -> None:
    """One flag per limit, its default in its help."""
    lim = p.add_argument_group(
        "limits (raise them for unusual but trusted archives; a SIZE takes a unit: 300GiB, 2TB)"
    )
    for name, help_ in _LIMIT_FLAGS:
        default = getattr(DEFAULT_LIMITS, name)
        if name in _SIZE_LIMITS:
            lim.add_argument(
                "--" + name.replace("_", "-"),
                type=_size,
                metavar="SIZE",
                help=f"{help_} (default {size_text(default)})",
            )
        elif name == "max_ratio":
            lim.add_argument(
                "--max-ratio", type=_whole, metavar="N", help=f"{help_} (default 0: off)"
            )
        else:
            lim.add_argument(
                "--" + name.replace("_", "-"),
                type=_positive,
                metavar="N",
                help=f"{help_} (default {default})",
            )


def _whole(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return n


def _positive(text: str) -> int:
    n = _whole(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return n


def _size(text: str) -> int:
    """A size limit: bytes, or a number with a unit (`300GiB`, `2TB`: see ci_rules.parse_size)."""
    try:
        n = parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte: {text!r}")
    return n


def _registry(args: argparse.Namespace, names: list[str]) -> RegistryOptions:
    """How registries are reached, from --creds, --insecure and --offline."""
    creds = None
    if args.creds is not None:
        password = None
        if ":" not in args.creds:
            if args.serve:
                raise LayerscopeError("--creds USER reads the password from standard input, "
                                      "which --serve's sessions do not have: log in with "
                                      "docker login / podman login instead")  # fmt: skip
            if "-" in names:
                raise LayerscopeError("--creds USER reads the password from standard input, "
                                      "which is the archive '-' here: give USER:PASS")  # fmt: skip
            password = sys.stdin.readline().rstrip("\r\n")
        creds = parse_creds(args.creds, password)
    insecure = frozenset(args.insecure or ())
    return RegistryOptions(
        creds=creds, insecure=insecure, offline=args.offline, keep_blobs=args.keep_blobs
    )


def _limits(args: argparse.Namespace) -> Limits:
    changes = {
        f: getattr(args, f)
        for f in DEFAULT_LIMITS.__dataclass_fields__
        if getattr(args, f, None) is not None
    }
    return replace(DEFAULT_LIMITS, **changes) if changes else DEFAULT_LIMITS


def build_slim_parser() -> argparse.ArgumentParser:
    """`layerscope slim IMAGE --to OUT`: the options of the slim command (write/command.py)."""
    from layerscope.write.imagefiles import FORMATS
    from layerscope.write.layertar import COMPRESSIONS

    p = _Parser(
        prog="layerscope slim",
        description="Write the image with the layers above --keep squashed into one: the same "
        "final filesystem, the dead bytes gone. --dry-run prints the bytes saved for every "
        "--keep, exact.",
    )
    p.add_argument(
        "archive", nargs="?", metavar="IMAGE", help="what layerscope opens (see layerscope -h)"
    )
    p.add_argument("--demo", action="store_true", help="slim the built-in sample image")
    p.add_argument(
        "--to", metavar="OUT", help="the image to write (a file, or a directory for oci-dir)"
    )
    p.add_argument("--keep", type=_whole, metavar="N",
                   help="keep layers 0..N-1 as they are (default: the base image's layers when "
                   "the history shows where it ends, else 1; 0 squashes all)")  # fmt: skip
    p.add_argument("--format", choices=FORMATS, default="docker-archive",
                   help="what to write (docker-archive)")  # fmt: skip
    p.add_argument("--compress", choices=COMPRESSIONS,
                   help="the new layer's compression (none for docker-archive, gzip for OCI)")  # fmt: skip
    p.add_argument("--tag", metavar="REF", help="the written image's name (default: the "
                   "source's, its tag with -slim added)")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="print the figures, write nothing")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--image", metavar="N|REF", help="the image of the archive (counted from 1)")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="from a multi-platform index")
    p.add_argument("--apply", choices=APPLY_MODES, default=OVERLAY, help="how layers are applied")
    p.add_argument(
        "--source", choices=("docker", "podman", "archive"), help="where IMAGE comes from"
    )
    p.add_argument("--no-verify", action="store_true", help="skip the digest checks")
    p.add_argument("--no-cache", action="store_true", help="do not use the cache")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    _add_limit_flags(p)
    return p


def _slim(args: argparse.Namespace) -> int:
    from layerscope.write.command import SlimArgs, run

    names = [args.archive] if args.archive else []
    if args.demo:
        names.append(demo_path())
    if len(names) != 1:
        raise LayerscopeError("slim takes one IMAGE (or --demo)")
    if not args.to and not args.dry_run:
        raise LayerscopeError("slim needs --to OUT, the image to write (or --dry-run)")
    opts = SlimArgs(to=args.to, keep=args.keep, format=args.format, compress=args.compress,
                    tag=args.tag, dry_run=args.dry_run, force=args.force)  # fmt: skip
    with discover(names, platform=args.platform, verify=not args.no_verify, engine=args.source,
                  limits=_limits(args), cache=not args.no_cache, apply=args.apply) as archive:  # fmt: skip
        img = select_image(archive.images, args.image)
        archive.load(images=[img])
        return run(img, opts)


def _run_slim(args: argparse.Namespace) -> int:
    """`layerscope slim`, its errors one line each (exit 2), as the rest of the command line."""
    keep_big_buffers_apart()
    return _one_line_errors(args, lambda: _slim(args))


def _one_line_errors(args: argparse.Namespace, body: Callable[[], int]) -> int:
    """`body()`'s exit status; an error it raises becomes one line on standard error and exit 2
    (with --debug, the traceback instead). Ctrl-C is 130; a broken pipe goes up to `main`,
    which ends quietly."""
    try:
        return body()
    except LayerscopeError as e:
        if args.debug:
            raise
        _error(str(e))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise  # main() ends quietly
    except MemoryError:
        if args.debug:
            raise
        print("layerscope: out of memory", file=sys.stderr)
        return EXIT_ERROR
    except OSError as e:
        if args.debug:
            raise
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        _error(f"{where}{e.strerror or e}")
        return EXIT_ERROR
    except Exception as e:  # a bug, not bad input: still one line, and --debug tells more
        if args.debug:
            raise
        _error(f"internal error: {type(e).__name__}: {e} (a bug: --debug shows the traceback)")
        return EXIT_ERROR


def _write_json(
    args: argparse.Namespace, images: list[Image], comparison: Comparison | None
) -> None:
    from layerscope.output.outputfile import open_output
    from layerscope.output.report import write_report

    with open_output(args.json) as out:
        write_report(out, images, files=not args.no_files, comparison=comparison)


def _check_image_count(args: argparse.Namespace) -> None:
    """`--image` once where one image is exported or shown (twice with --compare; as often as
    wanted for the report and the verdict): checked before anything is read."""
    given = len(args.image or [])
    if given < 2:
        return
    if args.export:
        raise LayerscopeError(
            f"--image is given {given} times and --export writes from one image: give it once"
        )
    if not (args.compare or args.json or args.ci):
        raise LayerscopeError(
            f"--image is given {given} times and the app shows one image: give it once, or "
            "add --compare to compare two"
        )


def _chosen(args: argparse.Namespace, images: list[Image]) -> tuple[list[Image], Pair | None]:
    """The images the run is about, checked before any layer is read: those `--image` names
    (all without it) and, with --compare, the two compared (then the only ones)."""
    if args.export:
        return [select_image(images, (args.image or [None])[0])], None
    if args.compare:
        pair = compare_pair(images, args.image or [])
        return list(pair), pair
    return select_images(images, args.image or []), None


def _run_ci(args: argparse.Namespace, images: list[Image]) -> int:
    from layerscope.output.ci import run_ci

    # with the report on standard output, the verdict goes to standard error
    return run_ci(args, images, sys.stderr if args.json == "-" else sys.stdout)


def _export(args: argparse.Namespace, img: Image) -> int:
    from layerscope.insight.export import ExportError, export

    layer = len(img.layers) - 1 if args.layer is None else args.layer
    try:
        result = export(img, args.export, layer, args.to, overwrite=args.overwrite)
    except ExportError as e:
        if e.result is not None:  # what was done before it stopped, then the error
            _print_export(args.to, e.result)
        raise
    _print_export(args.to, result)
    return EXIT_OK


def _print_export(to: str, result: ExportResult) -> None:
    """One line per path (names from the image shown visibly: a name cannot forge a line)."""
    links = dict(result.linked)
    for rel in result.written:
        where = visible(os.path.join(to, rel))
        if rel in links:
            print(f"linked {where} to {visible(os.path.join(to, links[rel]))}")
        else:
            print(f"wrote {where}")
    for rel, why in result.skipped:
        print(f"skipped {visible(rel)}: {visible(why)}")
    for rel in result.existing:
        print(f"kept {visible(os.path.join(to, rel))}: it exists (--overwrite replaces it)")


def _headless(args: argparse.Namespace, archive: Archive) -> int:
    if args.export and not args.to:
        raise LayerscopeError("--export needs --to DIR, the destination")
    images, pair = _chosen(args, archive.images)
    archive.load(images=[*images, *(pair or ())])  # the layers of other images are not read
    if args.json or args.ci:
        for img in images:
            if sum(len(layer) for layer in img.layers) > 20_000:
                img.start_dive()  # before the analysis: its memory is free again for it
    if args.export:
        return _export(args, images[0])
    comparison = None
    if pair is not None:
        from layerscope.insight.compare import compare

        comparison = compare(*pair)
    if args.json:
        _write_json(args, images, comparison)
    status = _run_ci(args, images) if args.ci else EXIT_OK
    for img in images:
        archive.remember(img)  # the figures computed, for the next run
    return status


def keep_big_buffers_apart() -> None:
    """Have glibc give every buffer of 128 KiB or more its own mapping, returned to the system
    when freed. By default it raises that threshold as big buffers are freed, and the next ones
    (a layer index read from the cache or from a worker process, tens of MB) come from the heap,
    where small objects allocated after them keep the memory from going back: tens of MB of peak
    memory on a big image."""
    lifecycle.set_mmap_threshold(128 << 10)


def _reopen_closed_streams() -> set[str]:
    """Give a closed standard stream (`>&-`) /dev/null, so that neither a print nor a file
    opened later (which would take the free descriptor) ends up where the stream was; returns
    the names of the streams that were closed."""
    closed = set()
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, mode, closefd=False))  # noqa: SIM115
            closed.add(name)
    return closed


def _quiet_broken_pipe() -> int:
    """The reader of standard output went away (`layerscope --json - | head`): end quietly, as
    other Unix tools do, with the status a shell reports for SIGPIPE."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())  # Python's final flush must not fail again
    return 128 + signal.SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status."""
    lifecycle.install()  # SIGTERM, SIGHUP: end as Ctrl-C does, leaving nothing behind
    lifecycle.end_with_server()  # a --serve session ends with its server
    closed = _reopen_closed_streams()
    try:
        return _main(argv, closed)
    except BrokenPipeError:
        return _quiet_broken_pipe()


def _main(argv: Sequence[str] | None, closed: set[str]) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["slim"]:  # `layerscope slim IMAGE --to OUT` (a file named slim: ./slim)
        return _run_slim(build_slim_parser().parse_args(given[1:]))
    args = build_parser().parse_args(argv)
    if args.json == "-" and "stdout" in closed:
        _error("--json -: standard output is closed")
        return EXIT_ERROR
    keep_big_buffers_apart()
    names = list(args.archives)
    if args.demo:
        names.append(demo_path())
    if not names:
        build_parser().print_usage(sys.stderr)
        print(
            "layerscope: name an archive (or '-' for standard input), or use --demo",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return _one_line_errors(args, lambda: _run_main(args, names, argv))


def _run_main(args: argparse.Namespace, names: list[str], argv: Sequence[str] | None) -> int:
    """The main command on the inputs `names`: a report (--json, --ci, --export), the web
    server (--serve) or the terminal UI."""
    _check_image_count(args)
    limits = _limits(args)
    registry = _registry(args, names)
    verify = not args.no_verify
    inputs = partial(discover, names, platform=args.platform, verify=verify,
                     engine=args.source, limits=limits, registry=registry)  # fmt: skip
    if args.json or args.ci or args.export:
        with inputs(cache=not args.no_cache, apply=args.apply) as archive:
            return _headless(args, archive)
    if args.serve:
        from layerscope.ui.serve import serve, without_serve_options

        with inputs() as archive:  # the inputs and --image checked here, not in the browser
            if args.compare:
                compare_pair(archive.images, args.image or [], first_two=True)
            else:
                select_image(archive.images, (args.image or [None])[0])
        given = list(sys.argv[1:] if argv is None else argv)
        return serve(without_serve_options(given), port=args.port, max_sessions=args.max_sessions)
    from layerscope.ui.app import run

    return run(
        names,
        platform=args.platform,
        verify=verify,
        engine=args.source,
        image=(args.image or [None])[0],
        compare=(args.image or []) if args.compare else None,
        limits=limits,
        cache=not args.no_cache,
        apply=args.apply,
        registry=registry,
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
