"""Measure layerscope on a registry image beside the same image as an archive.

    python3 bench/registry.py [--scale 1.0] [--kind big] [--out bench/out]

Starts Debian's docker-registry on 127.0.0.1 and a free port (its storage in a temporary
directory), pushes the benchmark archive (bench/generate.py; `big` is the 1.3 GB image) into it
with skopeo (which stores its layers gzip-compressed), and copies it out again blob for blob
(`skopeo copy ... oci-archive:`), so that both sides read the very same blobs. Then, for the
archive and for the registry reference: the full analysis with an empty cache (`--json
/dev/null --no-files`) and the re-open from the cache, each as bench/run.py measures a command
(wall time, CPU, peak memory summed over the process tree). Prints a Markdown table, the
ratios, and the targets of issue 14 (cold within 1.3x, re-open within +0.1 s, memory within
1.2x); writes every figure to OUT/registry.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from liveregistry import start_registry  # noqa: E402
from run import fmt_mb, fmt_s, run  # noqa: E402


def measure(target: str, cache: Path) -> dict:
    """Cold (empty cache) and re-open of `layerscope TARGET --json /dev/null --no-files`."""
    env = {**_env(), "LAYERSCOPE_CACHE_DIR": str(cache)}
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [sys.executable, "-m", "layerscope", target, "--json", "/dev/null", "--no-files"]
    cold = run(cmd, env)
    again = run(cmd, env)
    return {"cold": cold, "reopen": again}


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--kind", default="big")
    ap.add_argument("--out", default=str(HERE / "out"))
    ap.add_argument(
        "--archives", help="where the benchmark archives are (default: OUT/archives-SCALE)"
    )
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    archives = Path(args.archives) if args.archives else out / f"archives-{args.scale:g}"
    source = archives / f"{args.kind}.tar"
    if not source.exists():
        subprocess.run([sys.executable, str(HERE / "generate.py"), "--scale", str(args.scale),
                        "--only", args.kind, "--out", str(archives)], check=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="layerscope-bench-registry-") as tmp:
        work = Path(tmp)
        reg = start_registry(work / "registry")
        try:
            print(f"pushing {source} into the registry at {reg.host} ...", flush=True)
            ref = reg.push(f"docker-archive:{source}", f"bench/{args.kind}:1")
            copy = work / f"{args.kind}.oci.tar"
            reg.pull(ref, f"oci-archive:{copy}")
            print("archive (the registry's blobs, as an oci-archive) ...", flush=True)
            arch = measure(str(copy), work / "cache-archive")
            print("registry ...", flush=True)
            remote = measure(ref, work / "cache-registry")
        finally:
            reg.stop()
    rows = [("archive", arch), ("registry", remote)]
    lines = [
        f"| {args.kind} (scale {args.scale:g}) | cold | peak memory (sum) | re-open |",
        "|---|---|---|---|",
    ]
    for name, m in rows:
        lines.append(
            f"| {name} | {fmt_s(m['cold']['wall'])} | {fmt_mb(m['cold']['rss_sum_kb'])} | "
            f"{fmt_s(m['reopen']['wall'])} |"
        )
    cold_x = remote["cold"]["wall"] / arch["cold"]["wall"]
    reopen_d = remote["reopen"]["wall"] - arch["reopen"]["wall"]
    mem_x = remote["cold"]["rss_sum_kb"] / arch["cold"]["rss_sum_kb"]
    verdict = [
        f"cold: {cold_x:.2f}x the archive's (target 1.3x: {'met' if cold_x <= 1.3 else 'not met'})",
        f"re-open: {reopen_d:+.2f} s beside the archive's (target +0.1 s: "
        f"{'met' if reopen_d <= 0.1 else 'not met'})",
        f"memory: {mem_x:.2f}x the archive's (target 1.2x: {'met' if mem_x <= 1.2 else 'not met'})",
    ]
    text = "\n".join(lines) + "\n\n" + "\n".join(f"- {v}" for v in verdict) + "\n"
    print(text)
    figures = {name: {k: {x: v for x, v in r.items() if x not in ("out", "err")}
                      for k, r in m.items()} for name, m in rows}  # fmt: skip
    (out / "registry.json").write_text(json.dumps(figures, indent=1))
    (out / "registry.md").write_text(text)


if __name__ == "__main__":
    main()
