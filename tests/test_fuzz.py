"""Fuzzing the tar, manifest and index parsers (issue 7): valid archives of every format,
mutated byte by byte (headers above all) and JSON node by JSON node, must end in a result or a
LayerscopeError, the CLI in exit 0 or one line and exit 2, each in bounded time (fuzz_seeds.check).

Deterministic (derandomize) and small here, so the suite stays fast; scripts/fuzz.py runs the same
oracle on many more inputs.
"""

from __future__ import annotations

import json

from fuzz_seeds import (
    HEADER_OFFSETS,
    INTERESTING_INTS,
    INTERESTING_STRINGS,
    JSON_KEYS,
    archive_seeds,
    check,
    check_layer,
    json_members,
    json_nodes,
    layer_seeds,
    mutate,
    mutate_json,
    read_member,
    replace_member,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

positions = st.one_of(
    st.integers(0, 1 << 20),
    st.builds(
        lambda block, off: block * 512 + off, st.integers(0, 200), st.sampled_from(HEADER_OFFSETS)
    ),
)
values = st.one_of(
    st.binary(min_size=1, max_size=8),
    st.sampled_from(
        [
            b"\x80",
            b"\xff" * 8,
            b"7" * 11,
            b"0" * 11 + b"\0",
            b"x",
            b"L",
            b"K",
            b"g",
            b"S",
            b"5",
            b"2",
            b"1",
            b"\0" * 12,
            b"99999999999\0",
            b" 1\0",
        ]
    ),
)
ops = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "insert", "delete", "zero", "dup"]), positions, values
    ),
    min_size=1,
    max_size=4,
)

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(INTERESTING_INTS),
        st.floats(allow_nan=False),
        st.sampled_from(INTERESTING_STRINGS),
        st.text(max_size=6),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(JSON_KEYS), inner, max_size=3)
    ),
    max_leaves=6,
)
json_paths = st.lists(st.one_of(st.sampled_from(JSON_KEYS), st.integers(0, 50)), max_size=6)


@FAST
@given(seed=st.sampled_from(sorted(archive_seeds())), ops=ops, verify=st.booleans())
def test_mutated_archives(tmp_path_factory, seed, ops, verify):
    check(mutate(archive_seeds()[seed], ops), tmp_path_factory.mktemp("f"), verify=verify)


@FAST
@given(seed=st.sampled_from(sorted(layer_seeds())), ops=ops)
def test_mutated_layers(tmp_path_factory, seed, ops):
    check_layer(mutate(layer_seeds()[seed], ops), tmp_path_factory.mktemp("f"))


@FAST
@given(
    seed=st.sampled_from(sorted(archive_seeds())),
    which=st.integers(0, 100),
    path=json_paths,
    value=json_values,
    delete=st.booleans(),
    verify=st.booleans(),
)
def test_mutated_json(tmp_path_factory, seed, which, path, value, delete, verify):
    data = archive_seeds()[seed]
    if seed == "whole-gzip":
        return  # its members are compressed together: the other seeds cover its JSON
    names = json_members(data)
    name = names[which % len(names)]
    with_doc = json.loads(read_member(data, name))
    mutated = json.dumps(mutate_json(with_doc, path, value, delete=delete)).encode()
    check(replace_member(data, name, mutated), tmp_path_factory.mktemp("f"), verify=verify)


def test_the_seeds_themselves_are_read(tmp_path):
    for name, data in archive_seeds().items():
        assert check(data, tmp_path / name) == "ok", name
    for name, data in layer_seeds().items():
        assert check_layer(data, tmp_path / f"layer-{name}") == "ok", name


WRONG_TYPES = ([], {}, -1, None, "../x")


def test_every_json_node_of_the_wrong_type(tmp_path):
    """A sweep rather than a search: each node of each JSON document of two archives (a
    docker-archive, and an OCI layout with a nested index) replaced by a value of each other
    type, read without verification so that the document is used."""
    n = 0
    for seed in ("docker-legacy", "oci-multi"):
        data = archive_seeds()[seed]
        for name in json_members(data):
            doc = json.loads(read_member(data, name))
            for path in json_nodes(doc):
                for value in WRONG_TYPES:
                    mutated = json.dumps(mutate_json(doc, list(path), value)).encode()
                    check(
                        replace_member(data, name, mutated),
                        tmp_path / str(n % 4),
                        verify=False,
                        cli=False,
                    )
                    n += 1
    assert n > 300
