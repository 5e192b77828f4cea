"""The row readers on their own: ordinals, strict CSV, decoding, expiry rules."""

from __future__ import annotations

import base64
import io

import pytest

from voxkv_async.cli._csvrows import CsvInputError, read_csv, read_header
from voxkv_async.cli._rows import (
    CLOCK_SLACK,
    MAX_LINE,
    Reject,
    Row,
    RowRules,
    read_jsonl,
)

NOW = 1_800_000_000
RULES = RowRules(now=NOW, clock=lambda: NOW)


def jsonl(data: bytes) -> list[Row | Reject]:
    return list(read_jsonl(io.BytesIO(data), RULES))


def csv_rows(data: bytes) -> list[Row | Reject]:
    stream = io.BytesIO(data)
    header = read_header(stream)
    return list(read_csv(stream, header, RULES))


def test_ordinals_count_records_not_lines() -> None:
    records = jsonl(b'\xef\xbb\xbf{"key":"a:1","value":"x"}\r\n\n  \n{"key":"a:2","value":"y"}\n')
    assert [(r.ordinal, r.line) for r in records] == [(0, 1), (1, 4)]
    assert all(isinstance(r, Row) for r in records)


def test_expiry_bounds_with_slack() -> None:
    def one(**fields: object) -> Row | Reject:
        import json
        return jsonl(json.dumps({"key": "e:1", "value": "v", **fields}).encode())[0]

    assert isinstance(one(expires_at=NOW + 1), Row)
    assert isinstance(one(expires_at=NOW), Reject)  # would vanish at once
    assert isinstance(one(expires_at=NOW + 7_776_000 + CLOCK_SLACK), Row)
    assert isinstance(one(expires_at=NOW + 7_776_000 + CLOCK_SLACK + 1), Reject)
    row = one(ttl=60)
    assert isinstance(row, Row)
    assert row.expires_at == NOW + 60
    assert not row.explicit_expiry
    assert isinstance(one(expires_at="1800000100"), Row)  # digits, as a CSV cell gives
    assert isinstance(one(expires_at=True), Reject)
    assert isinstance(one(ttl="٣"), Reject)  # not ASCII digits


def test_csv_quoted_fields_with_newlines_commas_and_quotes() -> None:
    records = csv_rows(b'key,value\r\nc:1,"a,b"\r\nc:2,"line1\r\nline2"\r\nc:3,"say ""hi"""\r\n')
    assert [(r.key, r.value) for r in records if isinstance(r, Row)] == [
        ("c:1", "a,b"), ("c:2", "line1\r\nline2"), ("c:3", 'say "hi"')]


def test_csv_unterminated_quote_rejects_one_line_and_keeps_the_rest() -> None:
    body = b"".join(b"c:%d,v\n" % i for i in range(5000))
    records = csv_rows(b'key,value\nc:x,"open\n' + body)
    rejects = [r for r in records if isinstance(r, Reject)]
    assert len(rejects) == 1
    assert rejects[0].line == 2
    assert "unterminated quote" in rejects[0].error
    assert sum(isinstance(r, Row) for r in records) == 5000


def test_csv_record_over_the_limit_is_rejected() -> None:
    huge = b'c:1,"' + b"x" * (MAX_LINE + 10) + b'"\nc:2,ok\n'
    records = csv_rows(b"key,value\n" + huge)
    assert isinstance(records[0], Reject)
    assert isinstance(records[-1], Row)
    assert records[-1].key == "c:2"


def test_csv_undecodable_bytes_are_kept_as_base64() -> None:
    records = csv_rows(b"key,value\nc:1,caf\xe9\nc:2,ok\n")
    reject = records[0]
    assert isinstance(reject, Reject)
    assert reject.error.startswith("not UTF-8: byte 0xe9 at column 8")
    assert base64.b64decode(reject.record["_raw_base64"]) == b"c:1,caf\xe9"
    spanning = csv_rows(b'key,value\nc:1,"a\nb\xe9"\n')[0]
    assert isinstance(spanning, Reject)
    assert spanning.error.startswith("line 3: not UTF-8")
    assert isinstance(records[1], Row)


def test_csv_header_problems_refuse_the_file() -> None:
    for header in (b"\xff,value\n", b"a,b\n", b"key,key,value\n", b""):
        with pytest.raises(CsvInputError):
            read_header(io.BytesIO(header))


def test_prefix_rule() -> None:
    rules = RowRules(now=NOW, prefix="p:")
    [inside, outside] = list(read_jsonl(io.BytesIO(
        b'{"key":"p:1","value":"v"}\n{"key":"q:1","value":"v"}\n'), rules))
    assert isinstance(inside, Row)
    assert isinstance(outside, Reject)
    assert "does not start with the prefix 'p:'" in outside.error
