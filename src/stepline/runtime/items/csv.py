"""`InputType: CSV`: one item per row of a delimited text file in S3, read as a stream: an object of the row's
values (text, as they are written) by header. Headers come from the first row (`CSVHeaderLocation: FIRST_ROW`)
or from `CSVHeaders` (`GIVEN`); a row with more fields than headers drops the extra ones, a row with fewer gives
the missing headers "" (as recorded on AWS). `CSVDelimiter`: COMMA (the default), PIPE, SEMICOLON, SPACE, TAB.

The cursor is `{"offset": n, "etag": ...}`: the byte where the next row starts (a resumed read with headers in
the first row reads that row again first).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from stepline.errors import StatesError
from stepline.jsonvalue import JSON
from stepline.runtime.items.jsonl import lines
from stepline.runtime.items.s3 import READER_FAILED, S3

DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}
HEADERS_LIMIT = 10 * 1024  # bytes of the header row AWS reads


def rows(stream: BinaryIO, offset: int, delimiter: str) -> Iterator[tuple[list[str], int]]:
    """The records of a CSV byte stream, each with the offset just after it (a record may span lines)."""
    end = offset

    def text() -> Iterator[str]:
        nonlocal end
        for line, after in lines(stream, offset):
            end = after
            yield line.decode("utf-8-sig" if after == len(line) else "utf-8", errors="replace")

    reader = csv.reader(text(), delimiter=delimiter, strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise StatesError(READER_FAILED, f"The CSV file is malformed at the row that ends at byte {end}: "
                                             f"{error}") from None
        if row:
            yield row, end


def check_headers(headers: Sequence[str]) -> list[str]:
    if len(set(headers)) < len(headers):
        raise StatesError(READER_FAILED, "CSV headers cannot contain duplicates.")
    return list(headers)


def items(records: Iterator[tuple[list[str], int]], headers: list[str]) -> Iterator[tuple[dict[str, str], int]]:
    width = len(headers)
    for row, end in records:
        if len(row) < width:
            row = row + [""] * (width - len(row))
        yield dict(zip(headers, row)), end


def read_csv(s3: S3, bucket: str, key: str, cursor: JSON, *, delimiter: str, headers: list[str] | None,
             item_limit: int, version: str | None = None) -> Iterator[tuple[JSON, JSON]]:
    """`headers` None: the first row's."""
    offset = cursor.get("offset", 0) if isinstance(cursor, dict) else 0
    etag = cursor.get("etag") if isinstance(cursor, dict) else None
    if headers is None:
        headers, first_end, etag = first_row(s3, bucket, key, delimiter, etag, version)
        offset = max(offset, first_end)
    stream, etag = s3.open(bucket, key, offset, etag=etag, version=version)
    try:
        for item, end in items(rows(stream, offset, delimiter), headers):
            yield item, {"offset": end, "etag": etag}
    finally:
        stream.close()


def first_row(s3: S3, bucket: str, key: str, delimiter: str, etag: str | None,
              version: str | None) -> tuple[list[str], int, str]:
    """The header row, the offset after it, and the object's ETag."""
    stream, etag = s3.open(bucket, key, 0, etag=etag, version=version)
    try:
        for row, end in rows(stream, 0, delimiter):
            if end > HEADERS_LIMIT:
                raise StatesError(READER_FAILED, f"The CSV header row is larger than {HEADERS_LIMIT} bytes")
            return check_headers(row), end, etag
        return [], 0, etag
    finally:
        stream.close()
