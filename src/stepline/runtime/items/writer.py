"""The ResultWriter of a distributed Map: the children's results written to S3 as Step Functions writes them,
or shaped into the Map's output.

With a Resource (`arn:aws:states:::s3:putObject`, Parameters or Arguments `Bucket` and `Prefix`), the results
go to `<Prefix>/<map run id>/`: `SUCCEEDED_<n>.json`, `FAILED_<n>.json` (failed, timed out and aborted
children) and `PENDING_<n>.json` (items whose child never ran), each at most 5 GB (then `_<n+1>`; `.jsonl` for
OutputType JSONL), streamed to S3 (multipart uploads past 8 MiB), then `manifest.json`:
`{"DestinationBucket", "MapRunArn", "ResultFiles": {"FAILED": [{"Key", "Size"}], "PENDING": [...],
"SUCCEEDED": [...]}}`. The Map's output is then `{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}` (the
manifest's key). A file's entries are shaped by WriterConfig's Transformation: NONE (the default with a
Resource): each child's description, `{"ExecutionArn", "Input", "InputDetails", "Name", "Output",
"OutputDetails", "RedriveCount", "RedriveStatus", "RedriveStatusReason", "StartDate", "StateMachineArn",
"Status", "StopDate"}` (`Error` and `Cause` for a failure; Input and Output as JSON text); COMPACT: a
succeeded child's output; FLATTEN: its output, an array's elements one by one. A child that did not succeed
keeps its description whatever the Transformation. OutputType JSON writes a JSON array, JSONL a line per entry.

Without a Resource, `output(...)` gives the Map's output: the entries as one array (COMPACT, the default
without a ResultWriter, is the outputs in item order).

    spec = WriterSpec.parse(evaluated_result_writer)       # or WriterSpec() without a ResultWriter
    writer = await open_writer(spec, clients, call, map_run_arn)
    for description in children, in item order:           # DescribeExecution's fields (camelCase)
        await writer.add(description)
    output = await writer.finish()                         # the Map's output

Writing again after a crash writes the same keys again (the results come from the store, not from memory).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

from stepline.errors import StatesError
from stepline.jsonvalue import JSON
from stepline.runtime.integrations.aws.clients import AwsClients
from stepline.runtime.integrations.registry import TaskCall
from stepline.runtime.items.s3 import S3, WRITER_FAILED

FILE_LIMIT = 5 * 1000 ** 3  # bytes of one result file
PART_SIZE = 8 << 20  # bytes of one multipart upload part
FILES = {"SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED", "TIMED_OUT": "FAILED", "ABORTED": "FAILED",
         "PENDING": "PENDING"}


@dataclass(frozen=True, slots=True)
class WriterSpec:
    bucket: str | None = None  # None: no export; the results are the Map's output
    prefix: str = ""
    transformation: str = "COMPACT"
    output_type: str = "JSON"

    @classmethod
    def parse(cls, writer: Mapping[str, Any]) -> WriterSpec:
        """A ResultWriter whose Parameters (or Arguments) the interpreter has evaluated."""
        config = writer.get("WriterConfig") or {}
        bucket, prefix = None, ""
        if "Resource" in writer:
            if not str(writer["Resource"]).endswith(":s3:putObject"):
                raise StatesError(WRITER_FAILED, f"The ResultWriter's Resource {writer['Resource']!r} is not "
                                                 "s3:putObject")
            parameters = writer.get("Parameters") or writer.get("Arguments") or {}
            bucket, prefix = parameters.get("Bucket"), parameters.get("Prefix", "")
            if not isinstance(bucket, str) or not bucket or not isinstance(prefix, str):
                raise StatesError(WRITER_FAILED, "The ResultWriter's Parameters must name a Bucket, and a Prefix "
                                                 "if any, as text")
        transformation = config.get("Transformation", "NONE" if bucket else "COMPACT")
        output_type = config.get("OutputType", "JSON")
        if transformation not in ("NONE", "COMPACT", "FLATTEN") or output_type not in ("JSON", "JSONL"):
            raise StatesError(WRITER_FAILED, "WriterConfig's Transformation must be NONE, COMPACT or FLATTEN, and "
                                             "its OutputType JSON or JSONL")
        return cls(bucket=bucket, prefix=prefix, transformation=transformation, output_type=output_type)


def record(description: Mapping[str, Any]) -> dict[str, JSON]:
    """A child's description (DescribeExecution's camelCase fields) as the result files hold it."""
    status = description.get("status", "PENDING")
    entry: dict[str, JSON] = {}
    for field in ("executionArn", "input", "inputDetails", "name", "output", "outputDetails", "redriveCount",
                  "redriveStatus", "redriveStatusReason", "startDate", "stateMachineArn", "status", "stopDate",
                  "error", "cause"):
        if description.get(field) is None:
            continue
        value = description[field]
        if field in ("inputDetails", "outputDetails"):
            value = {"Included": bool(value.get("included", True))}
        elif field in ("startDate", "stopDate"):
            value = _timestamp(value)
        entry[field[0].upper() + field[1:]] = value
    entry["Status"] = status
    if status == "SUCCEEDED":
        entry.setdefault("RedriveCount", 0)
        entry.setdefault("RedriveStatus", "NOT_REDRIVABLE")
        entry.setdefault("RedriveStatusReason", "Execution is SUCCEEDED and cannot be redriven")
    return entry


def entries(description: Mapping[str, Any], transformation: str) -> list[JSON]:
    """What one child contributes to its file (or to the Map's output) under a Transformation."""
    if transformation == "NONE" or description.get("status") != "SUCCEEDED":
        return [record(description)]
    output = description.get("output")
    value = orjson.loads(output) if isinstance(output, str | bytes) else output
    if transformation == "FLATTEN" and isinstance(value, list):
        return value
    return [value]


def output(descriptions: Iterable[Mapping[str, Any]], spec: WriterSpec) -> JSON:
    """The Map's output when nothing is exported: every child's entries, in item order."""
    return [entry for description in descriptions for entry in entries(description, spec.transformation)]


def _timestamp(value: Any) -> str:
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, datetime):
        value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return str(value)


async def open_writer(spec: WriterSpec, clients: AwsClients, call: TaskCall, map_run_arn: str) -> ResultWriter:
    """A writer of the map run's results to the spec's bucket (`call`: where S3 is, and with which role)."""
    if spec.bucket is None:
        raise ValueError("the spec exports nothing: use output()")
    return ResultWriter(spec, S3(await clients.client(call, "s3")), clients, map_run_arn)


class ResultWriter:
    """The result files of one map run, written as children are added; then the manifest."""

    def __init__(self, spec: WriterSpec, s3: S3, clients: AwsClients, map_run_arn: str, *,
                 file_limit: int = FILE_LIMIT) -> None:
        assert spec.bucket is not None
        self.spec, self.s3, self.clients, self.map_run_arn = spec, s3, clients, map_run_arn
        self.bucket = spec.bucket
        run_id = map_run_arn.rsplit(":", 1)[-1]
        self.folder = f"{spec.prefix.rstrip('/')}/{run_id}/" if spec.prefix else f"{run_id}/"
        self.file_limit = file_limit
        self.files = {name: _File(self, name) for name in ("FAILED", "PENDING", "SUCCEEDED")}

    async def add(self, description: Mapping[str, Any]) -> None:
        """One child's description (in item order), or an item that never ran: `{"status": "PENDING",
        "input": ...}`."""
        file = self.files[FILES.get(description.get("status", "PENDING"), "FAILED")]
        for entry in entries(description, self.spec.transformation):
            work = file.append(orjson.dumps(entry))
            if work:
                await self.clients.run(work)

    async def finish(self) -> JSON:
        """Close the files, write the manifest; the Map's output."""
        results: dict[str, list[JSON]] = {}
        for name, file in self.files.items():
            await self.clients.run(file.close)
            results[name] = [{"Key": key, "Size": size} for key, size in file.written]
        key = self.folder + "manifest.json"
        manifest = {"DestinationBucket": self.bucket, "MapRunArn": self.map_run_arn, "ResultFiles": results}
        await self.clients.run(self.s3.put, self.bucket, key, orjson.dumps(manifest))
        return {"MapRunArn": self.map_run_arn, "ResultWriterDetails": {"Bucket": self.bucket, "Key": key}}


class _File:
    """The files of one status: `<STATUS>_<n>`, each up to the writer's file limit, streamed in parts."""

    def __init__(self, writer: ResultWriter, name: str) -> None:
        self.writer, self.name = writer, name
        self.jsonl = writer.spec.output_type == "JSONL"
        self.written: list[tuple[str, int]] = []  # (key, size) of the files closed
        self.number, self.size, self.entries = 0, 0, 0
        self.buffer = bytearray()
        self.upload: str | None = None
        self.parts: list[dict] = []

    @property
    def key(self) -> str:
        return f"{self.writer.folder}{self.name}_{self.number}.{'jsonl' if self.jsonl else 'json'}"

    def append(self, entry: bytes) -> Any:
        """Add an entry; blocking work to do in the thread pool (a part to upload, a file to close), or None."""
        extra = len(entry) + 1  # the separator, or the closing "]" / last newline
        if self.entries and self.size + extra + (0 if self.jsonl else 1) > self.writer.file_limit:
            full = self._detach()
            self._append(entry)
            return full
        self._append(entry)
        if len(self.buffer) >= PART_SIZE:
            return self._upload_part
        return None

    def _append(self, entry: bytes) -> None:
        if self.jsonl:
            piece = entry + b"\n"
        else:
            piece = (b"," if self.entries else b"[") + entry
        self.buffer += piece
        self.size += len(piece)
        self.entries += 1

    def _upload_part(self) -> None:
        writer = self.writer
        if self.upload is None:
            self.upload = writer.s3.start_upload(writer.bucket, self.key)
        body, self.buffer = bytes(self.buffer), bytearray()
        self.parts.append(writer.s3.upload_part(writer.bucket, self.key, self.upload, len(self.parts) + 1, body))

    def _detach(self) -> Any:
        """Hand the current file over for closing (returned as blocking work) and start the next one."""
        state = (self.key, self.buffer, self.upload, self.parts, self.size)
        self.written.append((self.key, self.size + (0 if self.jsonl else 1)))
        self.number, self.size, self.entries, self.buffer, self.upload, self.parts = \
            self.number + 1, 0, 0, bytearray(), None, []
        return lambda: self._finish(*state)

    def close(self) -> None:
        if self.entries:
            self._detach()()

    def _finish(self, key: str, buffer: bytearray, upload: str | None, parts: list[dict], size: int) -> None:
        writer = self.writer
        tail = bytes(buffer) + (b"" if self.jsonl else b"]")
        if upload is None:
            writer.s3.put(writer.bucket, key, tail)
            return
        parts.append(writer.s3.upload_part(writer.bucket, key, upload, len(parts) + 1, tail))
        writer.s3.finish_upload(writer.bucket, key, upload, parts)
