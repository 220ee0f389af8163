"""The findings view in the real app (`run_test`): opened by its key and from the palette, its
key on the key line, the summary strip's findings and secrets counts (the secrets in the error
colour), Enter going to a path at the layer that stored it; and an image whose paths, commands
and tag attack the screen: what the compositor draws holds no raw control character, no archive
markup becomes an action, and a secret's content never reaches the screen."""

from __future__ import annotations

from pathlib import Path

import pilots
from builder import Dir, File, Img, Layer, Whiteout, docker_archive
from hostile_text import CLEAR, CLICK, OSC52
from pilots import drawn, line_text, main_screen, press, run_command

from layerscope.ui.app import LayerscopeApp
from layerscope.ui.screens.findings import FindingsScreen, PathOf
from layerscope.ui.widgets.keybar import KeyBar
from layerscope.ui.widgets.summary import SummaryStrip
from layerscope.views import labels

BOLD = "[b]x[/b]"
HOSTILE = f"{CLICK}{BOLD}{OSC52}{CLEAR}\r\u202e"
SHOWN = f"{CLICK}{BOLD}\\x1b]52;c;UFdORUQ=\\x07\\x1b[2J\\r\\u202e"
RAW = ("\x1b", "\r", "\x07", "\u202e")
BODY = b"S3CRETb64body" * 8
KEY = b"-----BEGIN RSA PRIVATE KEY-----\n" + BODY + b"\n-----END RSA PRIVATE KEY-----\n"
SIZE = (200, 50)


def archive(path: Path) -> Path:
    """A key under a hostile name, deleted by a later layer with a hostile command; a download
    deleted later; apt lists left in the image."""
    return docker_archive(
        path,
        [
            Img(
                [
                    Layer(Dir("root"), File(f"root/{HOSTILE}.pem", KEY),
                          File("tmp/big.tgz", b"t" * 5000), created_by=f"/bin/sh -c {HOSTILE}"),
                    Layer(File("var/lib/apt/lists/x_Packages", b"P" * 700),
                          created_by="/bin/sh -c apt-get update"),
                    Layer(Whiteout(f"root/{HOSTILE}.pem"), Whiteout("tmp/big.tgz"),
                          created_by=f"RUN {HOSTILE} # buildkit"),
                ],
                tag=f"{HOSTILE}:1",
            )
        ],
    )  # fmt: skip


def screen_lines(app: LayerscopeApp) -> list[str]:
    """The screen as drawn, after checking every segment: nothing a terminal acts on, no click
    action of the archive's, never the secret's content."""
    lines = drawn(app)
    for line in lines:
        for segment in line:
            assert not any(c in segment.text for c in RAW), repr(segment.text)
            assert "S3CRET" not in segment.text
            meta = segment.style.meta if segment.style else {}
            assert "app.quit" not in str(meta.get("@click", "")), repr(segment.text)
    return [line_text(line) for line in lines]


def drive(tmp_path: Path, test: pilots.Test, size: tuple[int, int] = SIZE) -> None:
    pilots.drive(test, str(archive(tmp_path / "a.tar")), size=size, notifications=True)


def test_findings_view_shows_hostile_text_as_text_and_goes_to_the_path(tmp_path: Path) -> None:
    async def test(app, pilot):
        strip = main_screen(app).query_one(SummaryStrip)
        text = "\n".join(strip.lines)
        fixable = labels.size(5000 + 700 + len(KEY))  # the download, the lists, the key: once each
        assert f"Findings 3 ({fixable} fixable)" in text
        assert "Secrets 1 (1 hidden)" in text
        # the secrets' count in the error colour's background
        segs = [s for line in drawn(app, strip) for s in line if "1 (1 hidden)" in s.text]
        assert segs and segs[0].style.bgcolor is not None
        assert "f Findings" in str(app.screen.query_one(KeyBar).render())
        await press(pilot, "f")
        assert isinstance(app.screen, FindingsScreen)
        lines = screen_lines(app)
        whole = "\n".join(lines)
        assert f"{SHOWN}:1  ·  findings" in lines[0]
        assert "3 findings" in whole and "1 secret, 1 hidden" in whole
        assert f"/root/{SHOWN}.pem" in whole
        assert "critical rsa-private-key hidden in layer 0" not in whole  # kind, not detector
        assert "critical private-key hidden in layer 0" in whole
        # on the secret's path: the pane below says why and the fix, commands made visible
        tree = app.screen.outline_view
        rows = tree.outline.rows
        at = next(
            i for i, r in enumerate(rows)
            if isinstance(r.node.data, PathOf) and r.node.data.finding.kind == "secret"
        )  # fmt: skip
        await press(pilot, *["down"] * at)
        lines = screen_lines(app)
        whole = "\n".join(lines)
        assert "layer 2 hid: RUN " + CLICK in whole
        assert "fingerprint sha256:" in whole
        assert "--mount=type=secret" in whole
        # enter: the main screen, at layer 0, on the key (hidden by layer 2)
        await press(pilot, "enter")
        main = main_screen(app)
        assert main.layer_index == 0
        assert main.file_tree.node is not None
        assert main.file_tree.node.path == f"root/{HOSTILE}.pem"
        screen_lines(app)

    drive(tmp_path, test)


def test_findings_from_the_palette_and_back(tmp_path: Path) -> None:
    async def test(app, pilot):
        await run_command(pilot, "Findings: what to change")
        assert isinstance(app.screen, FindingsScreen)
        lines = screen_lines(app)
        whole = "\n".join(lines)
        for title in ("secrets", "deleted later", "package-manager leftovers"):
            assert title in whole
        await press(pilot, "escape")
        main_screen(app)

    drive(tmp_path, test)


def test_findings_view_at_80_columns_cuts_only_visible_text(tmp_path: Path) -> None:
    async def test(app, pilot):
        await press(pilot, "f", "e")
        lines = screen_lines(app)
        assert any("/root/[@" in line and "…" in line for line in lines)

    drive(tmp_path, test, size=(80, 24))
