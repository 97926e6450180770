"""S3 for the item readers and the result writer: blocking calls made in AwsClients' thread pool, and the
`s3:listObjectsV2` reader.

A reader's format module reads an object as a byte stream opened at an offset (a ranged GetObject, checked with
IfMatch against the ETag it started with, so a resumed read never continues another version of the file). Every
failure of S3 is `States.ItemReaderFailed` (reading) or `States.ResultWriterFailed` (writing), its cause S3's
message as the SDK reports it: `The specified key does not exist. (Service: S3, Status Code: 404, Request ID: ...)`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError

from stepline.errors import StatesError
from stepline.jsonvalue import JSON

READER_FAILED = "States.ItemReaderFailed"
WRITER_FAILED = "States.ResultWriterFailed"


def s3_failure(error: Exception, name: str) -> StatesError:
    """An S3 call's failure as the Map Run reports it."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        metadata = error.response.get("ResponseMetadata", {})
        message = details.get("Message") or details.get("Code") or "S3 error"
        return StatesError(name, f"{message} (Service: S3, Status Code: {metadata.get('HTTPStatusCode', 400)}, "
                                 f"Request ID: {metadata.get('RequestId', '')})")
    return StatesError(name, f"Unable to execute HTTP request: {error}")


class S3:
    """One S3 client's calls, blocking (run them in AwsClients' thread pool)."""

    def __init__(self, client: BaseClient) -> None:
        self.client: Any = client  # botocore's S3 client (its methods are made at run time)

    def open(self, bucket: str, key: str, offset: int = 0, *, etag: str | None = None,
             version: str | None = None) -> tuple[BinaryIO, str]:
        """The object's bytes from `offset` on, as a stream, and its ETag."""
        request: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if offset:
            request["Range"] = f"bytes={offset}-"
        if etag:
            request["IfMatch"] = etag
        if version:
            request["VersionId"] = version
        try:
            response = self.client.get_object(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "InvalidRange":  # resumed at the very end
                return io.BytesIO(), etag or ""
            if error.response.get("Error", {}).get("Code") == "PreconditionFailed":
                raise StatesError(READER_FAILED, f"The object s3://{bucket}/{key} changed while it was read "
                                                 f"(its ETag is no longer {etag})") from None
            raise s3_failure(error, READER_FAILED) from None
        except BotoCoreError as error:
            raise s3_failure(error, READER_FAILED) from None
        return response["Body"], response.get("ETag", "")

    def read(self, bucket: str, key: str, version: str | None = None) -> bytes:
        stream, _ = self.open(bucket, key, version=version)
        try:
            return stream.read()
        finally:
            stream.close()

    def size(self, bucket: str, key: str, version: str | None = None) -> tuple[int, str]:
        request = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
        try:
            response = self.client.head_object(**request)
        except (ClientError, BotoCoreError) as error:
            raise s3_failure(error, READER_FAILED) from None
        return int(response["ContentLength"]), response.get("ETag", "")

    def range(self, bucket: str, key: str, start: int, end: int, etag: str) -> bytes:
        """Bytes start..end-1 of an object (Parquet's random reads)."""
        try:
            response = self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}",
                                              IfMatch=etag)
        except (ClientError, BotoCoreError) as error:
            raise s3_failure(error, READER_FAILED) from None
        return response["Body"].read()

    def list_page(self, parameters: dict[str, Any], after: str | None, token: str | None) -> tuple[list[dict], str | None]:
        """One page of ListObjectsV2: its Contents, and the token of the next page (None at the end). The page
        follows `token`, else starts after the key `after`."""
        request = dict(parameters)
        if token is not None:
            request["ContinuationToken"] = token
        elif after is not None:
            request["StartAfter"] = after
        try:
            response = self.client.list_objects_v2(**request)
        except (ClientError, BotoCoreError) as error:
            raise s3_failure(error, READER_FAILED) from None
        return response.get("Contents", []), response.get("NextContinuationToken") if response.get("IsTruncated") else None

    # -------------------------------------------------------------- writing (the ResultWriter)

    def put(self, bucket: str, key: str, body: bytes) -> None:
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=body)
        except (ClientError, BotoCoreError) as error:
            raise s3_failure(error, WRITER_FAILED) from None

    def start_upload(self, bucket: str, key: str) -> str:
        try:
            return str(self.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
        except (ClientError, BotoCoreError) as error:
            raise s3_failure(error, WRITER_FAILED) from None

    def upload_part(self, bucket: str, key: str, upload: str, number: int, body: bytes) -> dict:
        try:
            response = self.client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number,
                                               Body=body)
        except (ClientError, BotoCoreError) as error:
            raise s3_failure(error, WRITER_FAILED) from None
        return {"ETag": response["ETag"], "PartNumber": number}

    def finish_upload(self, bucket: str, key: str, upload: str, parts: list[dict]) -> None:
        try:
            self.client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                                  MultipartUpload={"Parts": parts})
        except (ClientError, BotoCoreError) as error:
            raise s3_failure(error, WRITER_FAILED) from None


def describe_object(entry: dict) -> JSON:
    """A ListObjectsV2 entry as the Map's item: Step Functions' spelling `Etag`, LastModified in epoch seconds."""
    modified = entry.get("LastModified")
    return {"Etag": entry.get("ETag"), "Key": entry["Key"],
            "LastModified": int(modified.timestamp()) if isinstance(modified, datetime) else modified,
            "Size": entry.get("Size"), "StorageClass": entry.get("StorageClass")}


def list_objects(s3: S3, parameters: dict[str, Any], cursor: JSON) -> Iterator[tuple[dict, JSON]]:
    """The objects ListObjectsV2 lists for the parameters (every page), each with the cursor after it:
    `{"after": key}` (a resumed listing starts after that key)."""
    after = cursor.get("after") if isinstance(cursor, dict) else None
    token = None
    while True:
        entries, token = s3.list_page(parameters, after, token)
        for entry in entries:
            after = entry["Key"]
            yield entry, {"after": after}
        if token is None:
            return
