"""JSON Lines records of `log export`/`log import`: byte-exact round trips, clear refusals."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.replay.jsonl import BadLine, LogRecord, decode_line, encode_line

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


@given(
    key=st.none() | st.binary(max_size=40),
    value=st.none() | st.binary(max_size=200) | json_values.map(orjson.dumps),
    headers=st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=8)), max_size=3),
    timestamp=st.none() | st.integers(0, 2**45),
    partition=st.integers(0, 1023),
    offset=st.integers(0, 2**40),
)
def test_every_record_survives_a_round_trip_byte_for_byte(
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]],
    timestamp: int | None,
    partition: int,
    offset: int,
) -> None:
    record = LogRecord("t.events", partition, offset, key, value, timestamp, tuple(headers))
    line = encode_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_line(line) == record


def test_plain_json_values_are_readable_and_others_are_base64() -> None:
    doc = orjson.loads(encode_line(LogRecord("t", 0, 0, b"k", b'{"a":1}')))
    assert (doc["value"], doc["value_encoding"]) == ({"a": 1}, "json")
    assert (doc["key"], doc["key_encoding"]) == ("k", "utf8")
    spaced = orjson.loads(encode_line(LogRecord("t", 0, 0, None, b'{"a": 1}')))
    assert spaced["value_encoding"] == "base64"  # re-encoding would change the bytes
    assert spaced["key_encoding"] == "null"
    binary = orjson.loads(encode_line(LogRecord("t", 0, 0, b"\xff", b"\x00\x01")))
    assert (binary["key_encoding"], binary["value_encoding"]) == ("base64", "base64")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"topic": "t", "partition": -1, "offset": 0}', "'partition'"),
        (b'{"topic": "t", "partition": 0, "offset": "7"}', "'offset'"),
        (b'{"topic": 3, "partition": 0, "offset": 0, "key_encoding": "null",'
         b' "value_encoding": "null"}', "'topic'"),
        (b'{"topic": "t", "partition": 0, "offset": 0, "key_encoding": "null",'
         b' "value_encoding": "hex"}', "'value_encoding'"),
        (b'{"topic": "t", "partition": 0, "offset": 0, "key_encoding": "base64", "key": "!!",'
         b' "value_encoding": "null"}', "'key'"),
        (b'{"topic": "t", "partition": 0, "offset": 0, "timestamp": "now"}', "'timestamp'"),
        (b'{"topic": "t", "partition": 0, "offset": 0, "headers": [["h"]]}', "'headers'"),
    ],
)  # fmt: skip
def test_a_bad_line_is_refused_naming_the_field(line: bytes, field: str) -> None:
    with pytest.raises(BadLine, match=field):
        decode_line(line)
