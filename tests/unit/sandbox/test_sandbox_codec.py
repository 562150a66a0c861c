"""The value codec: exact built-ins round-trip; everything else is opaque; malformed input is refused."""

from __future__ import annotations

import json
import math

import pytest

from rlscope.sandbox import codec
from rlscope.sandbox.codec import CodecError, Opaque

VALUES = [
    None,
    True,
    False,
    0,
    -7,
    2**63,
    -(2**200),
    10**5000,
    1.5,
    -0.0,
    float("inf"),
    float("-inf"),
    1e-310,
    "",
    "héllo \ud800 \x00",
    b"\x00\xff",
    bytearray(b"ab"),
    3 + 4j,
    [1, [2, [3]]],
    (1, "a", (None,)),
    (),
    {"a": 1, 2: (3, 4), (5, 6): [7], None: True},
    {1, 2, "x"},
    frozenset({(1, 2)}),
    [True, 1, 1.0],
]


@pytest.mark.parametrize("value", VALUES, ids=[f"{i}-{type(v).__name__}" for i, v in enumerate(VALUES)])
def test_roundtrip_keeps_exact_types(value):
    back = codec.loads(codec.dumps(value))
    assert back == value and type(back) is type(value)
    if isinstance(value, list):
        assert [type(x) for x in back] == [type(x) for x in value]


def test_nan_roundtrips():
    assert math.isnan(codec.loads(codec.dumps(float("nan"))))


def test_bool_and_int_stay_apart():
    assert codec.dumps(True) != codec.dumps(1)
    assert type(codec.loads(codec.dumps([True]))[0]) is bool


class Sneaky(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


@pytest.mark.parametrize("value", [Sneaky(1), object(), lambda: 1, range(3), {1: Sneaky(2)}])
def test_other_types_become_opaque(value):
    back = codec.loads(codec.dumps(value))
    found = back if isinstance(back, Opaque) else back[1]
    assert isinstance(found, Opaque)
    assert found != found.__class__("x") and found != 1 and found == found


def test_depth_is_bounded():
    deep: list = []
    for _ in range(codec.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(CodecError):
        codec.dumps(deep)
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(CodecError):
        codec.dumps(cyclic)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"a": 1}',
        '{"$tuple": 1}',
        '{"$set": [[1]]}',
        '{"$dict": [[[1], 2]]}',
        '{"$bytes": "@@"}',
        '{"$nope": []}',
        '{"$float": "1.0"}',
        '{"$int": 5}',
        '{"$tuple": [], "$list": []}',
        "[" * 100_000 + "]" * 100_000,
        "1" * 5000,
        str(2**70),
    ],
)
def test_malformed_documents_are_refused(text):
    with pytest.raises(CodecError):
        codec.loads(text)


def test_plain_json_stays_readable():
    assert json.loads(codec.dumps([1, "a", None])) == [1, "a", None]
