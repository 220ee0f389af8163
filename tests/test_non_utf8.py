"""Names that are not UTF-8 (issue 13, item 4). The report and its `compare` are strict JSON of
valid Unicode: each undecodable byte of a name shows as U+FFFD, and the name's exact bytes are
in the sibling `<key>_bytes` (base64). Export writes the exact bytes as the names."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from builder import Dir, File, Hardlink, Img, Layer, Symlink, Whiteout, docker_archive, open_image

from layerscope.cli import main
from layerscope.insight.export import export
from layerscope.output.jsontext import dumps

pytestmark = pytest.mark.usefixtures("spool_dir")

REPO = Path(__file__).resolve().parent.parent

# Each undecodable byte, as the reader keeps it (a surrogate escape, U+DC00 + the byte).
FF = "\udcff"  # 0xff: never in UTF-8
E9 = "\udce9"  # Latin-1 é: a lead byte with no continuation
OVERLONG = "\udcc0\udcaf"  # 0xc0 0xaf: "/" as an overlong two-byte sequence
OVERLONG3 = "\udce0\udc80\udcaf"  # 0xe0 0x80 0xaf: "/" as an overlong three-byte sequence
CONT = "\udc80"  # a lone continuation byte
TRUNCATED = "\udce2\udc82"  # the first two bytes of "€" (0xe2 0x82 0xac)

SHARED = b"the same bytes in two images"

IMAGE_A = Img(
    [
        Layer(
            File("plain-\u00fc", SHARED),  # valid UTF-8, not ASCII: no `_bytes` key
            Dir(f"caf{E9}"),
            File(f"caf{E9}/{FF}.txt", b"v1"),
            Dir(f"over{OVERLONG}"),
            File(f"over{OVERLONG}/cont{CONT}", b"x"),
            Symlink("l-ff", f"caf{E9}/{FF}.txt"),
            Symlink("l-over", f"../{OVERLONG3}/{TRUNCATED}x"),
            File(f"gone{FF}", b"g"),
            created_by=f"RUN touch {FF}",  # a lone surrogate escape in the config's JSON
        ),
        Layer(
            File(f"caf{E9}/{FF}.txt", b"v2"),
            Whiteout(f"gone{FF}"),
            Hardlink(f"hard{E9}", f"caf{E9}/{FF}.txt"),
        ),
    ],
    tag="a:1",
    config_extra={"config": {"Labels": {"path": f"label {FF}", f"k{E9}": "v"}}},
)
IMAGE_B = Img(
    [
        Layer(
            File(f"{CONT}dup", SHARED),
            Dir(f"caf{E9}"),
            File(f"caf{E9}/{FF}.txt", b"v3"),
            Symlink("l-ff", f"over{OVERLONG}/cont{CONT}"),
            File(f"new{FF}", b"n"),
            File("plain-\u00fc", b"u"),
        )
    ],
    tag="b:1",
)


def raw(name: str) -> bytes:
    """The bytes the archive holds for a name kept with surrogate escapes."""
    return name.encode("utf-8", "surrogateescape")


def shown(name: str) -> str:
    """The name as the report writes it: each undecodable byte one U+FFFD."""
    return re.sub("[\udc80-\udcff]", "\ufffd", name)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def name_of(obj: dict, key: str = "path") -> bytes:
    """The exact bytes of a name in the report: `<key>_bytes` if present, else its UTF-8."""
    if key + "_bytes" in obj:
        return base64.b64decode(obj[key + "_bytes"], validate=True)
    return obj[key].encode("utf-8")


def strict_report(path: Path) -> dict:
    """The report parsed as any strict tool would: UTF-8 bytes, no lone surrogate anywhere."""
    data = path.read_bytes()
    text = data.decode("utf-8")  # strict
    assert text.isascii()
    assert not re.search(r"\\ud[89a-f][0-9a-f]{2}", text, re.IGNORECASE), "a surrogate escape"

    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    report = json.loads(text, parse_constant=no_constants)
    for s in strings(report):
        s.encode("utf-8")  # strict: raises on a lone surrogate
    return report


def strings(value) -> list[str]:
    """Every string of a parsed JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def check_names(value) -> int:
    """Every name key with a `_bytes` sibling shows those bytes, each bad byte as U+FFFD, and
    they are not UTF-8; the number of such names."""
    n = 0
    if isinstance(value, dict):
        for key in ("path", "link", "source"):
            if key + "_bytes" in value:
                exact = name_of(value, key)
                assert value[key] == shown(exact.decode("utf-8", "surrogateescape"))
                with pytest.raises(UnicodeDecodeError):
                    exact.decode("utf-8")
                n += 1
        for item in value.values():
            n += check_names(item)
    elif isinstance(value, list):
        n += sum(check_names(v) for v in value)
    return n


@pytest.fixture
def two_images(tmp_path) -> Path:
    return docker_archive(tmp_path / "two.tar", [IMAGE_A, IMAGE_B])


def write_report(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "report.json"
    assert main([*args, "--json", str(out)]) == 0
    return strict_report(out)


# -- the report -------------------------------------------------------------------------------


def test_files_and_hidden_names_are_valid_unicode_with_their_exact_bytes(tmp_path, two_images):
    report = write_report(tmp_path, str(two_images))
    assert check_names(report) > 0
    a = report["images"][0]
    l0, l1 = a["layers"]
    assert [(name_of(f), f["type"]) for f in l0["files"]] == [
        (raw("plain-\u00fc"), "file"),
        (raw(f"caf{E9}"), "dir"),
        (raw(f"caf{E9}/{FF}.txt"), "file"),
        (raw(f"over{OVERLONG}"), "dir"),
        (raw(f"over{OVERLONG}/cont{CONT}"), "file"),
        (b"l-ff", "symlink"),
        (b"l-over", "symlink"),
        (raw(f"gone{FF}"), "file"),
    ]
    by_path = {name_of(f): f for f in l0["files"]}
    plain = by_path[raw("plain-\u00fc")]
    assert plain["path"] == "plain-\u00fc" and "path_bytes" not in plain
    cafe = by_path[b"caf\xe9/\xff.txt"]
    assert (cafe["path"], cafe["path_bytes"]) == ("caf\ufffd/\ufffd.txt", b64(b"caf\xe9/\xff.txt"))
    assert by_path[b"over\xc0\xaf"]["path"] == "over\ufffd\ufffd"
    assert by_path[b"over\xc0\xaf/cont\x80"]["path"] == "over\ufffd\ufffd/cont\ufffd"
    assert "path_bytes" not in by_path[b"l-ff"] and "link_bytes" in by_path[b"l-ff"]
    assert name_of(by_path[b"l-ff"], "link") == b"caf\xe9/\xff.txt"
    over = by_path[b"l-over"]
    assert over["link"] == "../\ufffd\ufffd\ufffd/\ufffd\ufffdx"  # one U+FFFD per byte
    assert name_of(over, "link") == b"../\xe0\x80\xaf/\xe2\x82x"
    assert by_path[b"gone\xff"]["path"] == "gone\ufffd"
    assert [(name_of(f), f["type"]) for f in l1["files"]] == [
        (b"caf\xe9/\xff.txt", "file"), (b"gone\xff", "whiteout"), (b"hard\xe9", "hardlink"),
    ]  # fmt: skip
    assert name_of(l1["files"][2], "link") == b"caf\xe9/\xff.txt"
    assert sorted((name_of(h), h["how"]) for h in a["hidden"]) == [
        (b"caf\xe9/\xff.txt", "overwritten"), (b"gone\xff", "whiteout"),
    ]  # fmt: skip
    assert {h["path"] for h in a["hidden"]} == {"caf\ufffd/\ufffd.txt", "gone\ufffd"}


def test_shared_content_paths_give_bytes_item_by_item(tmp_path, two_images):
    report = write_report(tmp_path, str(two_images))
    (shared,) = report["sharing"]["file_shared"]
    assert shared["paths"] == ["plain-\u00fc", "\ufffddup"]
    assert shared["paths_bytes"] == [None, b64(b"\x80dup")]  # null: that name was UTF-8


def test_image_json_text_with_lone_surrogates_becomes_valid(tmp_path, two_images):
    """Config strings hold no name's bytes: a lone `\\udcXX` in the config's JSON becomes U+FFFD,
    with no `_bytes` key, and a label named `path` is a label, not a name of the report."""
    report = write_report(tmp_path, str(two_images))
    a = report["images"][0]
    assert a["layers"][0]["created_by"] == "RUN touch \ufffd"
    assert a["history"][0]["created_by"] == "RUN touch \ufffd"
    assert a["config"]["labels"] == {"path": "label \ufffd", "k\ufffd": "v"}


def test_a_source_name_that_is_not_utf8(tmp_path):
    archive = docker_archive(tmp_path / os.fsdecode(b"in-\xff.tar"), [IMAGE_B])
    report = write_report(tmp_path, str(archive))
    (img,) = report["images"]
    assert img["source"] == str(tmp_path) + "/in-\ufffd.tar"
    assert name_of(img, "source") == os.fsencode(archive)


def test_compare_names_are_valid_unicode_with_their_exact_bytes(tmp_path, two_images):
    report = write_report(tmp_path, str(two_images), "--compare")
    cmp = report["compare"]
    assert check_names(cmp) > 0
    # Ordered by the names as read: an undecodable byte sorts as U+DC00 + its value, after "n".
    assert [(name_of(c), c["type"]) for c in cmp["added"]] == [
        (b"new\xff", "file"), (b"\x80dup", "file"),
    ]  # fmt: skip
    assert [c["path"] for c in cmp["added"]] == ["new\ufffd", "\ufffddup"]
    assert [(name_of(c), c["type"]) for c in cmp["removed"]] == [
        (b"hard\xe9", "hardlink"), (b"l-over", "symlink"), (b"over\xc0\xaf", "dir"),
        (b"over\xc0\xaf/cont\x80", "file"),
    ]  # fmt: skip
    assert [(name_of(c), c["what"]) for c in cmp["changed"]] == [
        (b"caf\xe9/\xff.txt", ["content"]), (b"l-ff", ["link"]), (raw("plain-\u00fc"), ["content"]),
    ]  # fmt: skip
    assert "path_bytes" not in cmp["changed"][2]


def test_compare_to_standard_output_is_strict_too(tmp_path, two_images):
    out = subprocess.run(
        [sys.executable, "-m", "layerscope", str(two_images), "--compare", "--json", "-"],
        capture_output=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (tmp_path / "stdout.json").write_bytes(out.stdout)
    report = strict_report(tmp_path / "stdout.json")
    assert b64(b"new\xff") in [c.get("path_bytes") for c in report["compare"]["added"]]


def test_utf8_text_is_written_as_json_writes_it():
    """The encoder changes nothing that is valid: non-ASCII names, astral characters (written
    as surrogate pairs) and a name holding a literal backslash-u."""
    values = [
        {"path": "caf\u00e9/\U0001f600", "link": "\\udcff", "paths": ["\u00fc", "a"]},
        ["\U0001f600", {"source": "x\\ud800"}],
    ]
    for value in values:
        assert dumps(value) == json.dumps(value)


# -- export -----------------------------------------------------------------------------------


def test_export_writes_the_exact_bytes_as_names(tmp_path, two_images):
    img = open_image(two_images)
    dest = tmp_path / "out"
    export(img, "", 1, str(dest))
    root = os.fsencode(dest)
    assert sorted(os.listdir(root)) == sorted(
        [b"caf\xe9", b"hard\xe9", b"l-ff", b"l-over", b"over\xc0\xaf", raw("plain-\u00fc")]
    )
    assert os.listdir(root + b"/caf\xe9") == [b"\xff.txt"]
    assert os.listdir(root + b"/over\xc0\xaf") == [b"cont\x80"]
    with open(root + b"/caf\xe9/\xff.txt", "rb") as f:
        assert f.read() == b"v2"
    assert os.readlink(root + b"/l-ff") == b"caf\xe9/\xff.txt"
    assert os.readlink(root + b"/l-over") == b"../\xe0\x80\xaf/\xe2\x82x"
    assert os.stat(root + b"/hard\xe9").st_ino == os.stat(root + b"/caf\xe9/\xff.txt").st_ino


def test_export_from_the_command_line_takes_the_names_bytes(tmp_path, two_images):
    dest = tmp_path / "out"
    out = subprocess.run(
        [sys.executable, "-m", "layerscope", os.fsencode(two_images), "--export", b"over\xc0\xaf",
         "--layer", "0", "--to", os.fsencode(dest)],
        capture_output=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    root = os.fsencode(dest)
    assert os.listdir(root) == [b"over\xc0\xaf"]
    with open(root + b"/over\xc0\xaf/cont\x80", "rb") as f:
        assert f.read() == b"x"
