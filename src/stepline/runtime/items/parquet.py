"""`InputType: PARQUET`: one item per row of an Apache Parquet file in S3, an object of its columns. Read a row
group at a time, in batches, through ranged GETs (the footer first, then the column chunks a batch needs).
Values become JSON: timestamps, dates and times as ISO 8601 text, decimals as numbers, binary as base64 text.

Needs pyarrow (the `parquet` extra: `pip install stepline[parquet]`). The cursor is
`{"group": g, "row": r, "etag": ...}`: the row group, and the rows of it already read.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from stepline.errors import StatesError
from stepline.jsonvalue import JSON
from stepline.runtime.items.s3 import READER_FAILED, S3

BATCH_ROWS = 1024


class _S3File(io.RawIOBase):
    """An S3 object as a seekable, read-only file: each read is a ranged GET."""

    def __init__(self, s3: S3, bucket: str, key: str, size: int, etag: str) -> None:
        self.s3, self.bucket, self.key, self.size, self.etag, self.position = s3, bucket, key, size, etag, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def readinto(self, buffer: Any) -> int:
        end = min(self.position + len(buffer), self.size)
        if end <= self.position:
            return 0
        data = self.s3.range(self.bucket, self.key, self.position, end, self.etag)
        buffer[:len(data)] = data
        self.position += len(data)
        return len(data)


def read_parquet(s3: S3, bucket: str, key: str, cursor: JSON, *, version: str | None = None
                 ) -> Iterator[tuple[JSON, JSON]]:
    import pyarrow.parquet  # type: ignore[import-untyped]  # the `parquet` extra; imported only when a Parquet file is read

    group = cursor.get("group", 0) if isinstance(cursor, dict) else 0
    skip = cursor.get("row", 0) if isinstance(cursor, dict) else 0
    size, etag = s3.size(bucket, key, version)
    if isinstance(cursor, dict) and cursor.get("etag") not in (None, etag):
        raise StatesError(READER_FAILED, f"The object s3://{bucket}/{key} changed while it was read "
                                         f"(its ETag is no longer {cursor['etag']})")
    source = io.BufferedReader(_S3File(s3, bucket, key, size, etag), buffer_size=1 << 20)
    try:
        parquet = pyarrow.parquet.ParquetFile(source)
    except Exception as error:  # pyarrow's ArrowInvalid and the like
        raise StatesError(READER_FAILED, f"The Parquet file s3://{bucket}/{key} cannot be read: {error}") from None
    with parquet:
        for group in range(group, parquet.num_row_groups):
            row = 0
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[group]):
                for record in batch.to_pylist():
                    row += 1
                    if row > skip:
                        yield _json(record), {"group": group, "row": row, "etag": etag}
            skip = 0


def _json(value: Any) -> JSON:
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
