"""An image whose every string is an attack on the screen: markup that would become a clickable
action, ESC and OSC sequences that would clear the screen, set the terminal's title and write its
clipboard, a carriage return that would overwrite a pane, a right-to-left override that would
make a name read as another, and a byte that is not UTF-8. Used by the tests that check such
text is shown as text, visibly, everywhere."""

from __future__ import annotations

from pathlib import Path

from builder import Dir, File, Img, Layer, Symlink, Whiteout, docker_archive

OSC52 = "\x1b]52;c;UFdORUQ=\x07"  # "write PWNED to the clipboard"
TITLE = "\x1b]0;PWNED-TITLE\x07"  # "set the terminal's title"
CLEAR = "\x1b[2J"  # "clear the screen"
CLICK = "[@click=app.quit]"  # Textual markup: a click would quit the app
RAW = (OSC52, TITLE, CLEAR)
# what must never reach a terminal as it is (the first bytes of each sequence above)
RAW_BYTES = (b"\x1b]52;", b"\x1b]0;PWNED", b"\x1b[2J")


def hostile_image(tag: str = f"evil/{CLICK}:1") -> Img:
    """Two layers whose names, link targets, contents, history, env and labels carry each attack."""
    content = (OSC52 + "\nsecond line\r" + CLEAR + "\x1b[31mred\n").encode()
    base = Layer(
        Dir("etc"),
        File(f"etc/{CLICK}conf", b"x" * 40),
        File(f"etc/evil{CLEAR}{OSC52}", content),
        File("etc/cr\rname", b"overwrite"),
        File("etc/bidi\u202egpj.exe", b"y"),
        File("etc/notutf8-\udcff", b"z"),
        Symlink("etc/link", f"/tmp/{TITLE}"),
        created_by=f"RUN {CLICK}{TITLE} [b]bold[/b]",
    )
    top = Layer(
        Whiteout(f"etc/{CLICK}conf"),
        File(f"etc/evil{CLEAR}{OSC52}", content + b"more"),
        created_by=f"/bin/sh -c {OSC52}{CLICK}",
    )
    config = {
        "config": {
            "Env": [f"X={OSC52}{CLICK}", f"TAG={tag}"],
            "Labels": {f"l{CLICK}": f"v{TITLE}"},
            "Cmd": [CLICK, CLEAR],
            "User": TITLE,
            "WorkingDir": f"/{CLICK}",
        }
    }
    return Img([base, top], tag=tag, config_extra=config)


def hostile_archive(path: Path) -> Path:
    return docker_archive(path, [hostile_image(), hostile_image(tag=f"other/{CLICK}{OSC52}:2")])
