"""What to change in the build: findings derived from an image's model, each with the layers
involved (with their commands), its paths, the exact bytes a fix saves, why, and the fix.

Kinds (the report's spelling), in the order they are listed:

* `secret`: a file that looks like a credential (secrets.py); critical when a later layer hides
  it (deleted, still shipped), high when it is visible.
* `deleted-later`: files one layer stored and a later layer deleted or overwrote.
* `metadata-copy`: files a later layer stored again with only their mode or owner changed.
* `identical-rewrite`: files a later layer stored again unchanged.
* `package-cache`: a package manager's caches and lists (apt, apk, dnf/yum, pip, npm, yarn, go,
  cargo), visible in the final image or deleted by a later layer.
* `duplicate`: the same content at several visible paths.
* `build-only`: compilers, headers, static libraries, object files, `.git` directories in the
  final image: candidates, never certain waste.

Every byte is the model's: a hidden file's bytes are its reclaimable bytes (waste.py), each in
exactly one of deleted-later, metadata-copy, identical-rewrite or package-cache; a visible
file's are its size; a duplicate's are the extra copies'. Findings that count the same entry
overlap (a visible cache file can be a duplicate, a hidden secret is deleted-later too): each
says with which findings and by how many bytes, and `fixable_bytes` counts every entry of the
certain findings once.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import contains
from typing import Any
from weakref import WeakKeyDictionary

from layerscope.insight.secrets import SecretScan, scan
from layerscope.model.analysis import MASK, SHIFT, VISIBLE, pack, unpack
from layerscope.model.image import Image
from layerscope.model.kinds import How, Kind
from layerscope.read.records import F_META, FILE
from layerscope.text import visible

KINDS = (
    "secret",
    "deleted-later",
    "metadata-copy",
    "identical-rewrite",
    "package-cache",
    "duplicate",
    "build-only",
)
SEVERITIES = ("critical", "high", "medium", "low", "info")
KIND_TITLES = {
    "secret": "secrets",
    "deleted-later": "deleted later",
    "metadata-copy": "metadata copy-up",
    "identical-rewrite": "identical rewrite",
    "package-cache": "package-manager leftovers",
    "duplicate": "duplicated content",
    "build-only": "build-only content",
}


@dataclass(frozen=True, slots=True)
class FindingLayer:
    """A layer a finding involves: its position, its part, its command."""

    index: int
    role: str  # `stored` (the bytes), `hid` (deleted / overwrote them), `duplicated`
    created_by: str | None


@dataclass(frozen=True, slots=True)
class FindingPath:
    """One entry a finding counts."""

    path: str
    size: int  # the bytes of this entry the finding counts
    layer: int  # the layer that stored it (where Enter goes)
    row: int
    hidden_by: int | None = None  # the layer that hides it (None: visible)
    duplicate_of: str | None = None  # for a duplicate: the path of the first copy


@dataclass
class Finding:
    """One thing to change in the build."""

    kind: str  # one of KINDS
    severity: str  # one of SEVERITIES
    title: str  # one line
    bytes: int  # what the fix saves, exactly (a secret: its file's size)
    layers: list[FindingLayer]
    paths: list[FindingPath]  # largest first
    explanation: str  # one sentence
    fix: str  # what to change, a Dockerfile fragment where one applies
    certain: bool = True  # False for build-only: candidates, not certain waste
    detail: dict[str, Any] = field(default_factory=dict)  # manager, category, secret fields
    overlaps: dict[int, int] = field(default_factory=dict)  # other finding's index -> bytes

    @property
    def hidden(self) -> bool | None:
        """For a secret: whether a later layer hides it; None for other kinds."""
        return self.detail.get("hidden") if self.kind == "secret" else None

    def as_dict(self) -> dict[str, Any]:
        """The report's form (docs/report.md, `findings`)."""
        d: dict[str, Any] = {
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "bytes": self.bytes,
            "certain": self.certain,
            "layers": [
                {"index": ly.index, "role": ly.role, "created_by": ly.created_by}
                for ly in self.layers
            ],
            "paths": [
                {
                    "path": p.path,
                    "size": p.size,
                    "layer": p.layer,
                    "hidden_by": p.hidden_by,
                    **({"duplicate_of": p.duplicate_of} if p.duplicate_of is not None else {}),
                }
                for p in self.paths
            ],
            "explanation": self.explanation,
            "fix": self.fix,
            "overlaps": [{"finding": i, "bytes": b} for i, b in sorted(self.overlaps.items())],
        }
        d.update(self.detail)
        return d


@dataclass
class Findings:
    """An image's findings, the order they are listed in, with the totals."""

    items: list[Finding]
    fixable_bytes: int  # the bytes of the distinct entries the certain findings count
    scan: SecretScan

    def to_plain(self) -> dict[str, Any]:
        """The findings as plain values (marshal's types), for the cache (`from_plain`)."""
        return {
            "items": [
                (
                    f.kind, f.severity, f.title, f.bytes,
                    [(ly.index, ly.role, ly.created_by) for ly in f.layers],
                    [(p.path, p.size, p.layer, p.row, p.hidden_by, p.duplicate_of)
                     for p in f.paths],
                    f.explanation, f.fix, f.certain, f.detail, f.overlaps,
                )
                for f in self.items
            ],
            "fixable_bytes": self.fixable_bytes,
            "scan": (self.scan.files_read, self.scan.bytes_read, self.scan.files_skipped,
                     self.scan.files_deep),
        }  # fmt: skip

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> Findings:
        """The findings `to_plain` gave (an error for another shape)."""
        items = [
            Finding(kind, severity, title, size,
                    [FindingLayer(*ly) for ly in layers], [FindingPath(*p) for p in paths],
                    explanation, fix, certain, detail, overlaps)
            for (kind, severity, title, size, layers, paths, explanation, fix, certain, detail,
                 overlaps) in plain["items"]
        ]  # fmt: skip
        read, read_bytes, skipped, deep = plain["scan"]
        scan = SecretScan([], read, read_bytes, skipped, deep)
        return cls(items, plain["fixable_bytes"], scan)

    @property
    def secrets(self) -> list[Finding]:
        return [f for f in self.items if f.kind == "secret"]

    @property
    def hidden_secrets(self) -> list[Finding]:
        return [f for f in self.items if f.kind == "secret" and f.hidden]

    def by_kind(self) -> dict[str, list[Finding]]:
        """The findings of each kind present, in KINDS order, largest first within a kind."""
        out: dict[str, list[Finding]] = {}
        for f in self.items:
            out.setdefault(f.kind, []).append(f)
        return out

    def summary(self) -> dict[str, Any]:
        """The report's per-image totals."""
        return {
            "count": len(self.items),
            "secrets": len(self.secrets),
            "hidden_secrets": len(self.hidden_secrets),
            "fixable_bytes": self.fixable_bytes,
            "secret_scan": {
                "files_read": self.scan.files_read,
                "bytes_read": self.scan.bytes_read,
                "files_skipped": self.scan.files_skipped,
                "files_all_detectors": self.scan.files_deep,
            },
        }


# -- package managers and build-only content, by path -------------------------------------------
# (manager, pattern of a cache path, fix)
CACHES: tuple[tuple[str, str, str], ...] = (
    (
        "apt",
        r"^var/lib/apt/lists/(?:(?!lock$)[^/]+$|partial/.)|"
        r"^var/cache/apt/(?:archives/.+\.deb|[^/]+\.bin)$",
        "RUN apt-get update \\\n    && apt-get install -y --no-install-recommends PACKAGES \\\n"
        "    && rm -rf /var/lib/apt/lists/*\n"
        "# or keep them out of the layers: RUN --mount=type=cache,target=/var/cache/apt "
        "--mount=type=cache,target=/var/lib/apt/lists ...",
    ),
    ("apk", r"^var/cache/apk/.|^etc/apk/cache/.", "RUN apk add --no-cache PACKAGES"),
    (
        "dnf",
        r"^var/cache/(?:dnf|yum|libdnf5)/.",
        "RUN dnf install -y PACKAGES && dnf clean all && rm -rf /var/cache/dnf /var/cache/yum",
    ),
    (
        "pip",
        r"(?:^|/)\.cache/pip/.",
        "RUN pip install --no-cache-dir ...\n"
        "# or: RUN --mount=type=cache,target=/root/.cache/pip pip install ...",
    ),
    (
        "npm",
        r"(?:^|/)\.npm/_cacache/.",
        "RUN npm ci && npm cache clean --force\n"
        "# or: RUN --mount=type=cache,target=/root/.npm npm ci",
    ),
    (
        "yarn",
        r"(?:^|/)(?:\.cache/yarn|\.yarn/cache)/.",
        "RUN yarn install --frozen-lockfile && yarn cache clean\n"
        "# or: RUN --mount=type=cache,target=/usr/local/share/.cache/yarn yarn install",
    ),
    (
        "go",
        r"(?:^|/)(?:\.cache/go-build|go/pkg/mod/cache)/.",
        "RUN --mount=type=cache,target=/root/.cache/go-build "
        "--mount=type=cache,target=/go/pkg/mod go build ...\n"
        "# or build in a stage and COPY --from=build only the binary",
    ),
    (
        "cargo",
        r"(?:^|/)\.?cargo/(?:registry/(?:cache|index|src)|git/(?:db|checkouts))/.",
        "RUN --mount=type=cache,target=/usr/local/cargo/registry cargo build --release\n"
        "# or build in a stage and COPY --from=build only the binary",
    ),
)
# (category, pattern, what it is)
BUILD_ONLY: tuple[tuple[str, str, str], ...] = (
    ("git", r"(?:^|/)\.git/.", "`.git` directories"),
    ("headers", r"^usr/(?:local/)?include/.", "C/C++ headers"),
    (
        "compiler",
        r"^usr/(?:lib|libexec)/gcc/.|^usr/bin/(?:[\w.-]+-)?(?:gcc|g\+\+|cc1\w*|c\+\+|clang"
        r"(?:\+\+)?)(?:-[\d.]+)?$",
        "compilers",
    ),
    ("static-lib", r"[^/]\.a$", "static libraries"),
    ("object", r"[^/]\.o$", "object files"),
)
_CACHE_RE = re.compile("|".join(f"(?P<c{i}>{p})" for i, (_m, p, _f) in enumerate(CACHES)))
_BUILD_RE = re.compile("|".join(f"(?P<b{i}>{p})" for i, (_c, p, _w) in enumerate(BUILD_ONLY)))


_CACHE_WORDS = ("cache", "apt/", "cargo/")  # every CACHES path holds one of these
_BUILD_STARTS = (
    "usr/include/",
    "usr/local/include/",
    "usr/lib/gcc/",
    "usr/libexec/gcc/",
    "usr/bin/",
)
_BUILD_ENDS = (".a", ".o")


def _candidates(names: list[str]) -> set[int]:
    """The rows whose name could be a cache or build-only path: the literal checks of
    `_cache_of` and `_build_of`, made over a whole column at C speed."""
    rows = range(len(names))
    out: set[int] = set()
    for word in (*_CACHE_WORDS, ".git/"):
        out.update(compress(rows, map(contains, names, repeat(word))))
    out.update(compress(rows, map(str.startswith, names, repeat(_BUILD_STARTS))))
    out.update(compress(rows, map(str.endswith, names, repeat(_BUILD_ENDS))))
    return out


def _cache_of(path: str) -> int | None:
    """The CACHES entry a path is under, else None (the literal checks first: most paths fail
    them, and they cost a tenth of the pattern)."""
    if "cache" not in path and "apt/" not in path and "cargo/" not in path:  # _CACHE_WORDS
        return None
    m = _CACHE_RE.search(path)
    return int(m.lastgroup[1:]) if m and m.lastgroup else None


def _build_of(path: str) -> int | None:
    """The BUILD_ONLY entry a path is, else None (literal checks first, as `_cache_of`)."""
    if (
        ".git/" not in path
        and not path.startswith(_BUILD_STARTS)
        and not path.endswith(_BUILD_ENDS)
    ):
        return None
    m = _BUILD_RE.search(path)
    return int(m.lastgroup[1:]) if m and m.lastgroup else None


# -- commands ----------------------------------------------------------------------------------
_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_COPIED = re.compile(r"^(COPY|ADD) (?:file|dir|multi):[0-9a-f]+ in ")
_SHELL = re.compile(r"^(?:RUN )?(?:\|\d+ [^/]*)?/bin/(?:ba)?sh -c\s+")


def instruction(created_by: str | None) -> str:
    """A history command as a Dockerfile line (`RUN ...`, `COPY ...`), made visible (an image's
    text is hostile), on one line."""
    text = (created_by or "").strip()
    if text.endswith("# buildkit"):
        text = text[: -len("# buildkit")].rstrip()
    if _NOP.match(text):
        text = _NOP.sub("", text)
    elif _SHELL.match(text):
        text = "RUN " + _SHELL.sub("", text)
    text = _COPIED.sub(r"\1 <source> ", text)  # docker's and podman's record of what was copied
    return visible(" ".join(text.split())) or "(no command in the history)"


def _run(created_by: str | None) -> tuple[list[str], str] | None:
    """(its --flags, its shell command) of a RUN step, else None."""
    text = instruction(created_by)
    if not text.startswith("RUN "):
        return None
    words = text[4:].split(" ")
    flags = []
    while words and words[0].startswith("--"):
        flags.append(words.pop(0))
    return flags, " ".join(words)


def _one_run(a: str | None, b: str | None) -> str | None:
    """Two RUN steps as one (their flags once, the commands joined by &&), else None."""
    first, second = _run(a), _run(b)
    if first is None or second is None:
        return None
    flags = list(dict.fromkeys(first[0] + second[0]))
    head = "RUN " + "".join(f + " " for f in flags)
    return f"{head}{first[1]} \\\n    && {second[1]}"


# -- building the findings -----------------------------------------------------------------------
_made: WeakKeyDictionary[Image, Findings] = WeakKeyDictionary()  # each image's, made once
_making = threading.Lock()


CACHE_KIND = "fnd"  # the image's cache entry that holds its findings (figurecache.ImageMemo)


def findings(image: Image) -> Findings:
    """The findings of an image (every layer read), in the order the module's doc lists them,
    largest first within a kind; made once per image (the report and the verdict share them),
    and kept in the cache with its figures: a re-open reads no file and computes nothing."""
    made = _made.get(image)
    if made is not None:
        return made
    with _making:  # the app's loader and its findings view may ask at once: made once
        made = _made.get(image)
        if made is not None:
            return made
        memo = image.memo
        made = memo.load(CACHE_KIND, Findings.from_plain) if memo is not None else None
        if made is None:
            made = _findings(image)
            if memo is not None:
                memo.store(CACHE_KIND, made.to_plain())
        _made[image] = made
    return made


def _findings(image: Image) -> Findings:
    a = image.analysis
    cmds = [layer.created_by for layer in image.layers]
    items: list[Finding] = []
    units: list[set[int]] = []  # per finding, the refs whose bytes it counts
    counted: dict[int, int] = {}  # every ref a finding counts -> the bytes it counts of it

    def add(f: Finding, paths: Iterable[FindingPath]) -> None:
        refs = set()
        for p in paths:
            ref = pack(p.layer, p.row)
            refs.add(ref)
            counted[ref] = p.size
        items.append(f)
        units.append(refs)

    # hidden files (the reclaimable bytes, as waste.py counts them): each in one group, by what
    # hid it, by layers; only the hidden rows are visited (found at C speed)
    groups: dict[tuple[str, Any, int, int], list[FindingPath]] = defaultdict(list)
    replaced_by = {old: new for new, old in a.below.items()}
    kept = a.kept
    for pos, layer in enumerate(image.layers):
        li = layer.index
        hb, hows, types, sizes, names = a.hidden_by[pos], a.how[pos], li.types, li.sizes, li.paths
        for row in compress(range(len(li)), map(VISIBLE.__ne__, hb)):
            size = sizes[row]
            if types[row] != FILE or not size or (kept and pack(pos, row) in kept):
                continue
            by, path = hb[row], names[row]
            cache = _cache_of(path)
            if cache is not None:
                key: tuple[str, Any, int, int] = ("package-cache", cache, pos, by)
            elif hows[row] == How.OVERWRITTEN:
                new = replaced_by.get(pack(pos, row))
                status = a.status[new >> SHIFT][new & MASK] if new is not None else None
                if status == Kind.METADATA:
                    key = ("metadata-copy", None, pos, by)
                elif status == Kind.REWRITTEN:
                    key = ("identical-rewrite", None, pos, by)
                else:
                    key = ("deleted-later", "overwritten", pos, by)
            else:
                key = ("deleted-later", "deleted", pos, by)
            groups[key].append(FindingPath(path, size, pos, row, by))
    for (kind, extra, stored, by), paths in groups.items():
        paths.sort(key=lambda p: (-p.size, p.path))
        layers = [
            FindingLayer(stored, "stored", cmds[stored]),
            FindingLayer(by, "hid", cmds[by]),
        ]
        total = sum(p.size for p in paths)
        hidden = _Hidden(stored, by, cmds, paths, total, layers)
        if kind == "deleted-later":
            add(_deleted_later(extra, hidden), paths)
        elif kind == "metadata-copy":
            add(_metadata_copy(image, hidden), paths)
        elif kind == "identical-rewrite":
            add(_identical(hidden), paths)
        else:
            add(_cache_finding(extra, layers, paths, total, hidden_by=by), paths)

    # visible files: package caches and build-only content, by manager / category
    visible_cache: dict[int, list[FindingPath]] = defaultdict(list)
    visible_build: dict[int, list[FindingPath]] = defaultdict(list)
    moved: dict[int, set[int]] = defaultdict(set)  # layer -> rows not at their own path
    for ref in a.real_paths:
        moved[ref >> SHIFT].add(ref & MASK)
    for pos, layer in enumerate(image.layers):
        li = layer.index
        hb, types, flags, sizes, names = a.hidden_by[pos], li.types, li.flags, li.sizes, li.paths
        for row in sorted(_candidates(names) | moved[pos]):
            if hb[row] != VISIBLE or types[row] != FILE or flags[row] & F_META:
                continue
            ref = pack(pos, row)
            path = a.real_paths.get(ref, names[row])
            if a.final.get(path) != ref:
                continue
            cache = _cache_of(path)
            if cache is not None:
                visible_cache[cache].append(FindingPath(path, sizes[row], pos, row))
                continue
            build = _build_of(path)
            if build is not None:
                visible_build[build].append(FindingPath(path, sizes[row], pos, row))
    for cache, paths in visible_cache.items():
        paths.sort(key=lambda p: (-p.size, p.path))
        holders = sorted({p.layer for p in paths})
        layers = [FindingLayer(s, "stored", cmds[s]) for s in holders]
        total = sum(p.size for p in paths)
        add(_cache_finding(cache, layers, paths, total, hidden_by=None), paths)
    for build, paths in visible_build.items():
        paths.sort(key=lambda p: (-p.size, p.path))
        category, _pattern, what = BUILD_ONLY[build]
        holders = sorted({p.layer for p in paths})
        total = sum(p.size for p in paths)
        add(
            Finding(
                "build-only",
                "info",
                f"{what} in the final image",
                total,
                [FindingLayer(s, "stored", cmds[s]) for s in holders],
                paths,
                f"{len(paths)} file(s) of {what}, usually needed only to build, are in the final "
                "image: if the running image does not use them, they are waste.",
                "# build in a stage, copy only what runs:\nFROM BASE AS build\n"
                "RUN ... build ...\nFROM BASE\nCOPY --from=build /path/to/result /path/to/result",
                certain=False,
                detail={"category": category},
            ),
            paths,
        )

    # duplicates: the extra copies, by (layer of the first copy, layer of the extra copy)
    dups: dict[tuple[int, int], list[FindingPath]] = defaultdict(list)
    for _digest, size, dup_paths in image.duplicates:  # (as waste.py lists the extra copies)
        first_path = dup_paths[0]
        at = a.final[first_path]
        first = at >> SHIFT
        for path in dup_paths[1:]:
            pos, row = unpack(a.final[path])
            dups[(first, pos)].append(FindingPath(path, size, pos, row, duplicate_of=first_path))
    for (first, extra), paths in dups.items():
        paths.sort(key=lambda p: (-p.size, p.path))
        total = sum(p.size for p in paths)
        layers = [FindingLayer(first, "stored", cmds[first])]
        if extra != first:
            layers.append(FindingLayer(extra, "duplicated", cmds[extra]))
        where = f"layer {extra}" if extra == first else f"layer {extra} (first copies in {first})"
        add(
            Finding(
                "duplicate",
                "low",
                f"{len(paths)} extra cop{'y' if len(paths) == 1 else 'ies'} of visible content "
                f"in {where}",
                total,
                layers,
                paths,
                f"{len(paths)} file(s) that {where} stores have the same bytes as another "
                "visible path: each extra copy costs its size again.",
                "# keep one copy; make the others links in the step that makes them:\n"
                "RUN ln -f /path/of/first /path/of/copy   # or ln -s, or COPY it once",
            ),
            paths,
        )

    # secrets
    found = scan(image)
    for s in found.secrets:
        hidden_by = s.hidden_by
        layers = [FindingLayer(s.layer, "stored", cmds[s.layer])]
        if hidden_by is not None:
            layers.append(FindingLayer(hidden_by, "hid", cmds[hidden_by]))
            explanation = (
                f"A file that looks like a credential ({s.kind}) was added in layer {s.layer} "
                f"and deleted or replaced in layer {hidden_by}, but it is still in layer "
                f"{s.layer}: anyone who pulls the image can read it."
            )
        else:
            explanation = (
                f"A file that looks like a credential ({s.kind}) is in the final image: anyone "
                "who pulls the image can read it."
            )
        add(
            Finding(
                "secret",
                "critical" if hidden_by is not None else "high",
                f"{s.kind} {'hidden in' if hidden_by is not None else 'in'} layer {s.layer}",
                s.size,
                layers,
                [FindingPath(s.path, s.size, s.layer, s.row, hidden_by)],
                explanation,
                "# revoke and rotate the credential: it has shipped. Then never store it in "
                "a layer:\nRUN --mount=type=secret,id=cred,target=/run/secrets/cred ...\n"
                "# build with: --secret id=cred,src=PATH (docker buildx, podman, buildah)",
                detail={
                    "hidden": hidden_by is not None,
                    "secret": {
                        "type": s.kind,
                        "fingerprint": s.fingerprint,
                        "detectors": list(s.detectors),
                    },
                },
            ),
            [FindingPath(s.path, s.size, s.layer, s.row, hidden_by)],
        )

    order = {k: i for i, k in enumerate(KINDS)}
    sev = {s: i for i, s in enumerate(SEVERITIES)}
    ranked = sorted(
        range(len(items)),
        key=lambda i: (order[items[i].kind], sev[items[i].severity], -items[i].bytes,
                       items[i].title),
    )  # fmt: skip
    items = [items[i] for i in ranked]
    units = [units[i] for i in ranked]
    _overlaps(counted, items, units)
    certain: set[int] = set()
    for f, refs in zip(items, units, strict=True):
        if f.certain:
            certain |= refs
    fixable = sum(counted[ref] for ref in certain)
    return Findings(items, fixable, found)


def _overlaps(counted: dict[int, int], items: list[Finding], units: list[set[int]]) -> None:
    """Each finding's overlaps: the other findings that count some of its entries, and the
    bytes of those entries. Only a duplicate or a secret can share an entry with another
    finding (the hidden kinds take each hidden file once, a visible file is a cache or
    build-only, not both): their entries are looked up in the others'."""
    owner: dict[int, int] = {}  # the visible cache and build-only entries -> their finding
    for i, f in enumerate(items):
        if f.kind in ("package-cache", "build-only"):
            owner.update(dict.fromkeys(units[i], i))

    def share(i: int, j: int, size: int) -> None:
        items[i].overlaps[j] = items[i].overlaps.get(j, 0) + size
        items[j].overlaps[i] = items[j].overlaps.get(i, 0) + size

    for i, f in enumerate(items):
        if f.kind == "duplicate":
            for ref in units[i]:
                j = owner.get(ref)
                if j is not None:
                    share(i, j, counted[ref])
        elif f.kind == "secret":
            for j, refs in enumerate(units):
                if j != i and items[j].kind != "secret":
                    for ref in units[i] & refs:
                        share(i, j, counted[ref])


def _files(paths: list[FindingPath]) -> str:
    return f"{len(paths)} file{'s' if len(paths) != 1 else ''}"


@dataclass(frozen=True)
class _Hidden:
    """The files of layer `stored` that layer `by` hid in one way: one finding's worth."""

    stored: int
    by: int
    cmds: list[str | None]  # every layer's history command
    paths: list[FindingPath]  # largest first
    total: int  # their bytes
    layers: list[FindingLayer]  # `stored` and `by`, with their commands

    def finding(self, kind: str, title: str, explanation: str, fix: str, **detail: Any) -> Finding:
        """The finding of these files (a medium one)."""
        return Finding(
            kind,
            "medium",
            title,
            self.total,
            self.layers,
            self.paths,
            explanation,
            fix,
            detail=detail,
        )


def _deleted_later(over: str, h: _Hidden) -> Finding:
    stored, by, cmds, files = h.stored, h.by, h.cmds, _files(h.paths)
    merged = _one_run(cmds[stored], cmds[by]) if stored != by else None
    if merged is not None:
        fix = f"# do both in one RUN: the files never reach a layer\n{merged}"
    else:
        fix = (
            "# build in a stage and copy the result: what is deleted never reaches a layer\n"
            f"FROM BASE AS build\n{instruction(cmds[stored])}\n{instruction(cmds[by])}\n"
            "FROM BASE\nCOPY --from=build /path/you/keep /path/you/keep"
        )
    what = "overwrote" if over == "overwritten" else "deleted"
    return h.finding(
        "deleted-later",
        f"{files} of layer {stored} {over} in layer {by}",
        f"Layer {stored} stored {files} that layer {by} {what}: the image still ships "
        f"them in layer {stored}.",
        fix,
        how=over,
    )


def _metadata_copy(image: Image, h: _Hidden) -> Finding:
    stored, by, cmds, paths, files = h.stored, h.by, h.cmds, h.paths, _files(h.paths)
    a = image.analysis
    replaced_by = {old: new for new, old in a.below.items()}
    mode = owner = ""
    new = replaced_by.get(pack(paths[0].layer, paths[0].row))
    if new is not None:
        npos, nrow = unpack(new)
        li = image.layers[npos].index
        mode = f"{li.modes[nrow] & 0o7777:o}"
        owner = f"{li.uids[nrow]}:{li.gids[nrow]}"
    step = instruction(cmds[stored])
    if step.startswith(("COPY ", "ADD ")):
        verb, rest = step.split(" ", 1)
        fix = (
            f"# set mode and owner as the files are copied, and drop layer {by}'s step:\n"
            f"{verb} --chmod={mode or 'MODE'} --chown={owner or 'UID:GID'} {rest}"
        )
    else:
        merged = _one_run(cmds[stored], cmds[by])
        fix = f"# set the mode in the step that makes the files, and drop layer {by}'s step:\n" + (
            merged or f"{step}  # with the mode and owner set here"
        )
    return h.finding(
        "metadata-copy",
        f"{files} of layer {stored} copied up by a mode/owner change in layer {by}",
        f"Layer {by} changed only the mode or owner of {files} of layer {stored}, "
        "which stores each whole file again.",
        fix,
        mode=mode or None,
        owner=owner or None,
    )


def _identical(h: _Hidden) -> Finding:
    stored, by, files = h.stored, h.by, _files(h.paths)
    return h.finding(
        "identical-rewrite",
        f"{files} of layer {stored} stored again unchanged in layer {by}",
        f"Layer {by} stored {files} with the same content, mode and owner as layer "
        f"{stored} (a touch, a second COPY, a cp -a): the same bytes twice.",
        f"# drop what rewrites them from layer {by}'s step (it changes nothing but the mtime):\n"
        f"# {instruction(h.cmds[by])}",
    )


def _cache_finding(
    cache: int,
    layers: list[FindingLayer],
    paths: list[FindingPath],
    total: int,
    *,
    hidden_by: int | None,
) -> Finding:
    manager, _pattern, fix = CACHES[cache]
    stored = layers[0].index
    if hidden_by is None:
        title = f"{manager} cache: {_files(paths)} in the final image"
        explanation = (
            f"{_files(paths)} of {manager}'s caches or lists, which the running image does not "
            "need, are in the final image."
        )
    else:
        title = f"{manager} cache: {_files(paths)} of layer {stored} deleted in layer {hidden_by}"
        explanation = (
            f"Layer {stored} stored {_files(paths)} of {manager}'s caches or lists that layer "
            f"{hidden_by} deleted: cleaned in another step, they are still shipped."
        )
    return Finding(
        "package-cache",
        "medium",
        title,
        total,
        layers,
        paths,
        explanation,
        "# clean up in the same RUN that makes the cache:\n" + fix,
        detail={"manager": manager, "hidden": hidden_by is not None},
    )
