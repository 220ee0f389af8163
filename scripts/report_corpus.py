"""Write the JSON report of every test archive into a folder, to compare two versions of
layerscope byte for byte (a refactoring must change none of them):

    python3 scripts/report_corpus.py /tmp/before     # on the old code
    python3 scripts/report_corpus.py /tmp/after      # on the new code
    diff -r /tmp/before /tmp/after

The archives: the real fixtures (tests/fixtures/real), the built-in sample, and archives built
by tests/builder.py from the hostile corpus of tests/test_hostile.py and the real-fixture shapes.
Each report is written with files lists and with the comparison of the first two images where
an archive holds two or more.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def archives(work: Path) -> list[Path]:
    real = ROOT / "tests" / "fixtures" / "real"
    found = sorted(
        p for p in real.iterdir() if not p.name.endswith((".json", ".sh", ".py", ".md", ".txt"))
    )
    from layerscope.cli import demo_path

    found.append(Path(demo_path()))
    import builder as b

    built = {
        "whiteouts.tar": [
            b.Img(
                [
                    b.Layer(
                        b.Dir("etc"),
                        b.File("etc/a", b"1" * 10),
                        b.File("etc/b", b"2"),
                        b.Dir("var/c"),
                        b.File("var/c/d", b"3" * 7),
                        b.Symlink("l", "etc/a"),
                        b.Hardlink("h", "etc/a"),
                    ),
                    b.Layer(
                        b.Whiteout("etc/a"),
                        b.Opaque("var/c"),
                        b.File("var/c/e", b"4"),
                        b.File("etc/b", b"2", mode=0o600),
                    ),
                    b.Layer(
                        b.File("etc/b", b"22"),
                        b.Whiteout("l"),
                        b.File("dup1", b"x" * 5),
                        b.File("dup2", b"x" * 5),
                    ),
                ],
                tag="built:1",
            )
        ],
        "two.tar": [
            b.Img([b.Layer(b.File("a", b"a" * 3))], tag="one:1"),
            b.Img([b.Layer(b.File("a", b"a" * 3)), b.Layer(b.File("b", b"bb"))], tag="two:1"),
        ],
    }
    for name, imgs in built.items():
        found.append(b.docker_archive(work / name, imgs))
    return found


def main(out: str) -> int:
    from layerscope.cli import main as cli

    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    os.environ["LAYERSCOPE_CACHE_DIR"] = tempfile.mkdtemp(prefix="layerscope-corpus-cache-")
    dest = dest.resolve()
    home = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for path in archives(work):  # copied beside each other: the reports name them alike
            if path.parent != work:
                copy = shutil.copytree if path.is_dir() else shutil.copy2
                copy(path, work / path.name)
        os.chdir(work)
        for path in sorted(work.iterdir()):
            for variant, extra in (
                ("", []),
                (".compare", ["--compare", "--image", "0", "--image", "1"]),
            ):
                target = dest / f"{path.name}{variant}.json"
                err = io.StringIO()
                with contextlib.redirect_stderr(err):
                    status = cli([path.name, "--json", str(target), "--no-cache", *extra])
                if status != 0:
                    target.write_text(f"exit {status}: {err.getvalue()}")
        os.chdir(home)
    print(f"{len(list(dest.iterdir()))} reports in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "reports"))
