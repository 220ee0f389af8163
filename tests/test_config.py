"""The image config: diff_ids, history attached to the right layer or to none (docs/formats.md 9),
runtime settings."""

from __future__ import annotations

import json

import pytest

from layerscope.errors import FormatError
from layerscope.read.config import check_digest, load_json, parse_config

D = ["sha256:" + c * 64 for c in "abc"]


def cfg(history=None, diff_ids=D, **extra) -> bytes:
    doc = {"rootfs": {"type": "layers", "diff_ids": diff_ids}, **extra}
    if history is not None:
        doc["history"] = history
    return json.dumps(doc).encode()


def test_history_attached_in_order_empty_layers_to_none():
    c = parse_config(cfg([
        {"created_by": "FROM scratch", "empty_layer": True},
        {"created_by": "ADD a", "created": "2024-01-01T00:00:00Z"},
        {"created_by": "ENV X=1", "empty_layer": True},
        {"created_by": "RUN b", "author": "me", "comment": "buildkit.dockerfile.v0"},
        {"created_by": "RUN c"},
        {"created_by": "LABEL x=y", "empty_layer": True},
    ]))  # fmt: skip
    assert [s.layer for s in c.history] == [None, 0, None, 1, 2, None]
    assert c.history_aligned
    assert c.layer_step(1).as_dict() == {
        "created_by": "RUN b",
        "created": None,
        "author": "me",
        "comment": "buildkit.dockerfile.v0",
        "empty_layer": False,
        "layer": 1,
    }
    assert c.layer_step(0).created == "2024-01-01T00:00:00Z"
    assert c.layer_step(3) is None


@pytest.mark.parametrize(
    "history",
    [
        [{"created_by": "one"}, {"created_by": "two"}],  # too short
        [{"created_by": str(i)} for i in range(4)],  # too long
        [{"created_by": "a"}, {"created_by": "b", "empty_layer": True}, {"created_by": "c"}],
    ],
)
def test_history_that_does_not_line_up_is_attached_to_nothing(history):
    c = parse_config(cfg(history))
    assert [s.layer for s in c.history] == [None] * len(history)
    assert not c.history_aligned
    assert all(c.layer_step(i) is None for i in range(3))
    assert [s.created_by for s in c.history] == [h["created_by"] for h in history]


def test_no_history():
    c = parse_config(cfg())
    assert c.history == [] and c.history_aligned and c.layer_step(0) is None
    doc = json.loads(cfg())
    doc["history"] = None
    assert parse_config(json.dumps(doc).encode()).history == []


def test_odd_history_values():
    c = parse_config(cfg([{"created_by": 5, "author": None, "comment": ["x"]}, {}, {}]))
    assert [(s.created_by, s.author, s.comment, s.layer) for s in c.history] == [
        (None, None, None, 0),
        (None, None, None, 1),
        (None, None, None, 2),
    ]
    # empty_layer counts when truthy in any form
    c = parse_config(cfg([{"empty_layer": 1}, {}, {}, {}]))
    assert [s.layer for s in c.history] == [None, 0, 1, 2]


def test_runtime_settings_and_platform():
    c = parse_config(cfg(
        os="linux", architecture="arm", variant="v7", created="2024-05-01T00:00:00Z",
        config={"Env": ["A=1", "B=2"], "Cmd": ["sh", "-c", "x"], "Entrypoint": ["/init"],
                "Labels": {"a": "b", "n": 1}, "User": "1000:1000", "WorkingDir": "/app"},
    ))  # fmt: skip
    assert c.platform == "linux/arm/v7"
    assert (c.env, c.cmd, c.entrypoint) == (["A=1", "B=2"], ["sh", "-c", "x"], ["/init"])
    assert c.labels == {"a": "b", "n": "1"}
    assert (c.user, c.workdir, c.created) == ("1000:1000", "/app", "2024-05-01T00:00:00Z")
    assert c.diff_ids == D


def test_missing_settings():
    c = parse_config(cfg(config={"Env": None, "Cmd": "not a list", "Labels": None, "User": ""}))
    assert c.platform == "unknown/unknown"
    assert (c.env, c.cmd, c.entrypoint, c.labels, c.user, c.workdir) == (
        [], None, None, {}, None, None
    )  # fmt: skip


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"[]", "not a JSON object"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"{}", "no rootfs.diff_ids"),
        (b'{"rootfs": {"diff_ids": "x"}}', "no rootfs.diff_ids"),
        (cfg(diff_ids=["sha256:abc"]), "a diff_id is not a valid sha256 digest"),
        (cfg({"x": 1}), "history is not a list"),
        (cfg(["step"]), "a history entry is not an object"),
    ],
)
def test_bad_configs(data, match):
    with pytest.raises(FormatError, match=match):
        parse_config(data, "config")


def test_check_digest_and_load_json():
    assert check_digest(D[0], "x") == D[0]
    for bad in ("sha256:" + "a" * 65, " sha256:" + "a" * 64, "SHA256:" + "a" * 64, b"sha256:"):
        with pytest.raises(FormatError, match="x is not a valid sha256 digest"):
            check_digest(bad, "x")
    assert load_json(b'{"a": 1}', "doc") == {"a": 1}
    with pytest.raises(FormatError, match="doc is not valid JSON"):
        load_json(b"nope", "doc")
