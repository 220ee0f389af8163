"""The keymap file (ui/keymap.py): where it is, what it may say, one warning line for each thing
in it that cannot apply."""

from __future__ import annotations

from pathlib import Path

from layerscope.ui.app import LayerscopeApp
from layerscope.ui.keymap import binding_ids, keymap_path, load_keymap


def test_the_file_is_in_the_config_directory(tmp_path):
    assert keymap_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "layerscope/keymap.toml"
    home = Path.home() / ".config/layerscope/keymap.toml"
    assert keymap_path({}) == home
    assert keymap_path({"XDG_CONFIG_HOME": "relative/dir"}) == home  # not absolute: ignored


def test_every_binding_id_is_known():
    ids = binding_ids(LayerscopeApp)
    for expected in ("app.quit", "app.quit_ctrl_c", "main.waste", "main.next_match",
                     "tree.page_right", "layers.down", "outline.choose", "view.back",
                     "waste.expand_all", "help.close"):  # fmt: skip
        assert expected in ids


def test_ids_keys_and_warnings(tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text(
        '"main.waste" = "W"\n'
        "main.filter = 'f, ctrl+f'\n"  # a dotted key: the table main, read back as main.filter
        "[app]\nquit = 'x'\n"
        "[nothing]\nhere = 'z'\n"
        "[tree]\nup = 3\ndown = 'a b'\nfirst = ''\n"
    )
    keymap, warnings = load_keymap(path, {"main.waste", "main.filter", "app.quit", "tree.up",
                                           "tree.down", "tree.first"})  # fmt: skip
    assert keymap == {"main.waste": "W", "main.filter": "f,ctrl+f", "app.quit": "x"}
    assert len(warnings) == 4
    assert "no key binding has the id 'nothing.here'" in warnings[0]
    assert all(str(path) in w and "\n" not in w for w in warnings)
    assert [w.split(": ", 1)[1].split(" =")[0] for w in warnings[1:]] == [
        "tree.up", "tree.down", "tree.first",
    ]  # fmt: skip


def test_a_bad_or_missing_file(tmp_path):
    assert load_keymap(tmp_path / "none.toml", set()) == ({}, [])
    bad = tmp_path / "bad.toml"
    bad.write_text('"main.waste" = \n')
    keymap, warnings = load_keymap(bad, {"main.waste"})
    assert keymap == {} and len(warnings) == 1 and "not valid TOML" in warnings[0]
    bad.write_bytes(b"\xff\xfe")
    keymap, warnings = load_keymap(bad, {"main.waste"})
    assert keymap == {} and "cannot be read" in warnings[0]
