"""The heavy fuzz run of the reader (issue 7): the oracle of tests/fuzz_seeds.py on many inputs.

    python scripts/fuzz.py [--engine atheris|hypothesis] [--target archive|layer|json|all]
                           [--time SECONDS] [--workdir DIR]

- `atheris` (coverage-guided libFuzzer, `pip install atheris`): one process per target, started
  from the seed archives, libFuzzer mutating bytes (`archive`: whole archives, `layer`: layer
  blobs) or JSON text (`json`: manifest.json / index.json / a config / a manifest, put back in a
  seed archive, read without verification so the document is used). Each input must pass the
  oracle within 10 s and 2 GiB; a crash (traceback, timeout, memory) is saved in
  WORKDIR/<target>/crashes and the run of that target stops.
- `hypothesis` (the default when atheris is not installed): the strategies of tests/test_fuzz.py,
  random instead of derandomized, batch after batch until the time is up.

The summary gives the number of inputs run and every crash found. The default WORKDIR is
build/fuzz (corpora grow there between runs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
sys.path[:0] = [str(TESTS), str(REPO)]

TARGETS = ("archive", "layer", "json")
JSON_DICT = [
    '"Config"',
    '"Layers"',
    '"RepoTags"',
    '"manifests"',
    '"layers"',
    '"config"',
    '"digest"',
    '"size"',
    '"mediaType"',
    '"platform"',
    '"annotations"',
    '"rootfs"',
    '"diff_ids"',
    '"history"',
    '"empty_layer"',
    '"schemaVersion"',
    '"sha256:' + "a" * 64 + '"',
    '"../"',
    '"/etc/passwd"',
    '"application/vnd.oci.image.index.v1+json"',
    '"application/vnd.oci.image.manifest.v1+json"',
    '"blobs/sha256/"',
    "null",
    "true",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "-1",
    "1e999",
    "18446744073709551616",
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--engine", choices=("atheris", "hypothesis"))
    p.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    p.add_argument("--time", type=int, default=600, help="seconds in all (default 600)")
    p.add_argument("--workdir", type=Path, default=REPO / "build" / "fuzz")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: one atheris target
    args, rest = p.parse_known_args()
    if args.worker:
        return _atheris_worker(args.worker, args.workdir, rest)
    engine = args.engine or ("atheris" if _has_atheris() else "hypothesis")
    targets = TARGETS if args.target == "all" else (args.target,)
    print(f"fuzzing {', '.join(targets)} with {engine} for {args.time} s; workdir {args.workdir}")
    if engine == "atheris":
        return _atheris(targets, args.time, args.workdir)
    return _hypothesis(targets, args.time, args.workdir)


def _has_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


# -- atheris ---------------------------------------------------------------------------------------


def _atheris(targets: tuple[str, ...], seconds: int, workdir: Path) -> int:
    """One libFuzzer process per target, all at once, each for the whole time."""
    procs = {}
    for target in targets:
        tdir = workdir / target
        for sub in ("corpus", "crashes", "scratch"):
            (tdir / sub).mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            target,
            "--workdir",
            str(workdir),
            str(tdir / "corpus"),
            f"-max_total_time={seconds}",
            "-timeout=10",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tdir / 'crashes'}/",
            "-print_final_stats=1",
            "-max_len=262144",
        ]
        if target == "json":
            dict_file = tdir / "json.dict"
            dict_file.write_text(
                "".join(f"kw{i}={json.dumps(t)}\n" for i, t in enumerate(JSON_DICT))
            )
            cmd.append(f"-dict={dict_file}")
        log = open(tdir / "log.txt", "w")  # noqa: SIM115 - closed below
        procs[target] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
    total, crashes = 0, []
    for target, (proc, log) in procs.items():
        proc.wait()
        log.close()
        text = (workdir / target / "log.txt").read_text(errors="replace")
        runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
        n = int(runs[-1]) if runs else 0
        found = sorted((workdir / target / "crashes").iterdir())
        total += n
        crashes += [(target, f) for f in found]
        print(f"{target}: {n} inputs, exit {proc.returncode}, {len(found)} crash file(s)")
        if proc.returncode not in (0,) or found:
            tail = "\n".join(text.splitlines()[-40:])
            print(f"--- {target} log (last lines) ---\n{tail}")
    print(f"total: {total} inputs, {len(crashes)} crash(es)")
    for target, f in crashes:
        print(f"  {target}: {f}")
    return 1 if crashes else 0


def _atheris_worker(target: str, workdir: Path, libfuzzer_args: list[str]) -> int:
    import io  # noqa: F401 - imported before instrumentation: the standard library stays fast
    import tarfile  # noqa: F401

    import atheris
    import zstandard  # noqa: F401

    with atheris.instrument_imports(include=["layerscope"]):
        import fuzz_seeds

        import layerscope  # noqa: F401

    tdir = workdir / target
    scratch = tdir / "scratch"
    corpus = tdir / "corpus"
    if not any(corpus.iterdir()):  # seed the corpus
        if target == "archive":
            seeds = fuzz_seeds.archive_seeds()
        elif target == "layer":
            seeds = fuzz_seeds.layer_seeds()
        else:  # a slot number (which document of which seed archive), then the document
            seeds = {
                f"slot{n}": bytes([n]) + fuzz_seeds.read_member(archive, member)
                for n, (archive, member) in enumerate(_json_slots(fuzz_seeds))
            }
        for name, data in seeds.items():
            (corpus / name).write_bytes(data)
    json_slots = _json_slots(fuzz_seeds) if target == "json" else []

    def one_input(data: bytes) -> None:
        if target == "archive":
            fuzz_seeds.check(data, scratch, verify=len(data) % 2 == 0, cli=len(data) % 3 == 0)
        elif target == "layer":
            fuzz_seeds.check_layer(data, scratch)
        else:
            archive, member = json_slots[data[0] % len(json_slots) if data else 0]
            doc = fuzz_seeds.replace_member(archive, member, data[1:])
            fuzz_seeds.check(doc, scratch, verify=False, cli=len(data) % 4 == 0)

    mutator = None
    if target == "json":

        def mutator(data: bytes, max_size: int, seed: int) -> bytes:
            """Structure-aware: most of the time one node of the document is replaced by a
            value of another type, an interesting string or number, another node, or deleted;
            else libFuzzer's byte mutations."""
            rng = random.Random(seed)
            slot, data = data[:1] or b"\0", data[1:]
            try:
                doc = json.loads(data)
            except (ValueError, RecursionError):
                doc = None
            if doc is None or rng.random() < 0.25:
                return slot + atheris.Mutate(data, max_size - 1)
            nodes = list(fuzz_seeds.json_nodes(doc))
            value = rng.choice(
                [
                    rng.choice(fuzz_seeds.INTERESTING_STRINGS),
                    rng.choice(fuzz_seeds.INTERESTING_INTS),
                    rng.choice([[], {}, None, True, 1.5, "[" * 50]),
                    _get(doc, rng.choice(nodes)),  # another node of the same document
                    [_get(doc, rng.choice(nodes))] * rng.randint(2, 5),
                ]
            )
            mutated = fuzz_seeds.mutate_json(
                doc, list(rng.choice(nodes)), value, delete=rng.random() < 0.15
            )
            return slot + json.dumps(mutated).encode()[: max_size - 1]

    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input, custom_mutator=mutator)
    atheris.Fuzz()
    return 0


def _json_slots(fuzz_seeds) -> list[tuple[bytes, str]]:
    """(seed archive, JSON member) pairs: where the json target puts its documents."""
    out = []
    for name, data in sorted(fuzz_seeds.archive_seeds().items()):
        if name != "whole-gzip":
            out += [(data, member) for member in fuzz_seeds.json_members(data)]
    return out


def _get(doc: object, path: tuple) -> object:
    for step in path:
        doc = doc[step]  # type: ignore[index]
    return doc


# -- hypothesis ------------------------------------------------------------------------------------


def _hypothesis(targets: tuple[str, ...], seconds: int, workdir: Path) -> int:
    import tempfile

    import fuzz_seeds
    import test_fuzz
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from hypothesis.database import DirectoryBasedExampleDatabase

    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=workdir))
    counts = dict.fromkeys(targets, 0)
    failures: list[tuple[str, str]] = []

    def run_archive(seed, ops, verify):
        counts["archive"] += 1
        fuzz_seeds.check(
            fuzz_seeds.mutate(fuzz_seeds.archive_seeds()[seed], ops),
            scratch,
            verify=verify,
            cli=counts["archive"] % 3 == 0,
        )

    def run_layer(seed, ops):
        counts["layer"] += 1
        fuzz_seeds.check_layer(fuzz_seeds.mutate(fuzz_seeds.layer_seeds()[seed], ops), scratch)

    def run_json(seed, which, path, value, delete, verify):
        counts["json"] += 1
        data = fuzz_seeds.archive_seeds()[seed]
        names = fuzz_seeds.json_members(data)
        name = names[which % len(names)]
        doc = json.loads(fuzz_seeds.read_member(data, name))
        mutated = json.dumps(fuzz_seeds.mutate_json(doc, path, value, delete=delete)).encode()
        fuzz_seeds.check(
            fuzz_seeds.replace_member(data, name, mutated),
            scratch,
            verify=verify,
            cli=counts["json"] % 3 == 0,
        )

    seeds = st.sampled_from(sorted(fuzz_seeds.archive_seeds()))
    json_seeds = st.sampled_from(sorted(set(fuzz_seeds.archive_seeds()) - {"whole-gzip"}))
    tests = {
        "archive": given(seed=seeds, ops=test_fuzz.ops, verify=st.booleans())(run_archive),
        "layer": given(seed=st.sampled_from(sorted(fuzz_seeds.layer_seeds())), ops=test_fuzz.ops)(
            run_layer
        ),
        "json": given(
            seed=json_seeds,
            which=st.integers(0, 100),
            path=test_fuzz.json_paths,
            value=test_fuzz.json_values,
            delete=st.booleans(),
            verify=st.booleans(),
        )(run_json),
    }
    batch = settings(
        max_examples=500,
        deadline=None,
        database=DirectoryBasedExampleDatabase(str(workdir / "hypothesis-db")),
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    tests = {target: batch(test) for target, test in tests.items()}
    end = time.monotonic() + seconds
    while time.monotonic() < end and len(failures) < 10:
        for target in targets:
            if time.monotonic() >= end:
                break
            try:
                tests[target]()
            except Exception as e:  # a failure: hypothesis has shrunk it and printed it
                failures.append((target, f"{type(e).__name__}: {e}"[:2000]))
                print(f"FAILURE in {target}: {failures[-1][1]}", flush=True)
        print(f"{int(end - time.monotonic())} s left; inputs so far: {counts}", flush=True)
    total = sum(counts.values())
    print(f"total: {total} inputs ({counts}), {len(failures)} failure(s)")
    for target, text in failures:
        print(f"  {target}: {text.splitlines()[0] if text else ''}")
    for f in scratch.iterdir():
        if f.is_file():
            f.unlink()
        else:
            for g in f.iterdir():
                g.unlink()
            f.rmdir()
    scratch.rmdir()
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("LAYERSCOPE_CACHE_DIR", str(Path("build/fuzz/cache").resolve()))
    sys.exit(main())
