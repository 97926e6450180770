"""`InputType: MANIFEST`: the objects an S3 Inventory report lists, and Athena data manifests.

- S3 Inventory (`ManifestType: S3_INVENTORY`, the default): the Key names the inventory's `manifest.json`; its
  `files` (gzipped CSV, `fileFormat: CSV`; ORC and Parquet inventories are refused) are read in order from its
  `destinationBucket`, each row an object of the inventory's columns named by `fileSchema` (`Bucket`, `Key`,
  `Size`, ...), values as text. Cursor: `{"file": i, "row": r}` (rows of file i already read; gzip cannot be
  entered mid-stream, so a resumed file is read again up to there).
- Athena (`ManifestType: ATHENA_DATA`): the Key names the `-manifest.csv` an UNLOAD or a query wrote, one
  `s3://bucket/key` per line; each data file is read in order with the ReaderConfig's `InputType` (CSV, JSONL or
  PARQUET). Cursor: `{"file": i, "at": <that format's cursor>}`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
from collections.abc import Callable, Iterator

import orjson

from stepline.errors import StatesError
from stepline.jsonvalue import JSON
from stepline.runtime.items.s3 import READER_FAILED, S3

ReadFile = Callable[[str, str, JSON], Iterator[tuple[JSON, JSON]]]  # (bucket, key, cursor) -> items


def read_inventory(s3: S3, bucket: str, key: str, cursor: JSON, *, version: str | None = None
                   ) -> Iterator[tuple[JSON, JSON]]:
    try:
        manifest = orjson.loads(s3.read(bucket, key, version))
    except orjson.JSONDecodeError:
        raise StatesError(READER_FAILED, f"The manifest s3://{bucket}/{key} is not valid JSON") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise StatesError(READER_FAILED, f"The manifest s3://{bucket}/{key} is not an S3 Inventory manifest")
    if manifest.get("fileFormat") != "CSV":
        raise StatesError(READER_FAILED, f"S3 Inventory files of the format {manifest.get('fileFormat')!r} cannot "
                                         "be read; only CSV inventories are supported")
    headers = [name.strip() for name in str(manifest.get("fileSchema", "")).split(",")]
    destination = str(manifest.get("destinationBucket", bucket)).removeprefix("arn:aws:s3:::")
    first = cursor.get("file", 0) if isinstance(cursor, dict) else 0
    skip = cursor.get("row", 0) if isinstance(cursor, dict) else 0
    for index in range(first, len(manifest["files"])):
        stream, _ = s3.open(destination, manifest["files"][index]["key"])
        try:
            text = codecs.getreader("utf-8")(gzip.GzipFile(fileobj=stream))
            for row_number, row in enumerate(csv.reader(text), 1):
                if row_number > skip:
                    yield dict(zip(headers, row)), {"file": index, "row": row_number}
        except (OSError, EOFError, csv.Error) as error:
            raise StatesError(READER_FAILED, f"The inventory file {manifest['files'][index]['key']} cannot be "
                                             f"read: {error}") from None
        finally:
            stream.close()
        skip = 0


def read_athena(s3: S3, bucket: str, key: str, cursor: JSON, read_file: ReadFile, *,
                version: str | None = None) -> Iterator[tuple[JSON, JSON]]:
    files = [line.strip() for line in s3.read(bucket, key, version).decode("utf-8").splitlines() if line.strip()]
    first = cursor.get("file", 0) if isinstance(cursor, dict) else 0
    at = cursor.get("at") if isinstance(cursor, dict) else None
    for index in range(first, len(files)):
        location = files[index]
        if not location.startswith("s3://") or "/" not in location[5:]:
            raise StatesError(READER_FAILED, f"The Athena manifest lists {location!r}, which is not an S3 URI")
        file_bucket, file_key = location[5:].split("/", 1)
        for item, inner in read_file(file_bucket, file_key, at):
            yield item, {"file": index, "at": inner}
        at = None
