"""`InputType: JSONL`: one item per line of an S3 object (JSON Lines), read as a stream. Blank lines are skipped.

The cursor is `{"offset": n, "etag": ...}`: the byte where the next line starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import orjson

from stepline.errors import StatesError
from stepline.jsonvalue import JSON
from stepline.runtime.items.s3 import READER_FAILED, S3

CHUNK = 1 << 18


def lines(stream: BinaryIO, offset: int) -> Iterator[tuple[bytes, int]]:
    """The lines of a byte stream (with their line ends), each with the offset just after it."""
    pending = b""
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            if pending:
                yield pending, offset + len(pending)
            return
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            offset += end + 1 - start
            yield pending[start:end + 1], offset
            start = end + 1
        pending = pending[start:]


def read_jsonl(s3: S3, bucket: str, key: str, cursor: JSON, *, item_limit: int,
               version: str | None = None) -> Iterator[tuple[JSON, JSON]]:
    offset = cursor.get("offset", 0) if isinstance(cursor, dict) else 0
    etag = cursor.get("etag") if isinstance(cursor, dict) else None
    stream, etag = s3.open(bucket, key, offset, etag=etag, version=version)
    try:
        for line, after in lines(stream, offset):
            if not line.strip():
                continue
            if len(line) > item_limit:
                raise StatesError(READER_FAILED, f"A line of the JSONL file is larger than the limit of "
                                                 f"{item_limit} bytes")
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise StatesError(READER_FAILED, f"The line that ends at byte {after} of the JSONL file is not "
                                                 "valid JSON") from None
            yield item, {"offset": after, "etag": etag}
    finally:
        stream.close()
