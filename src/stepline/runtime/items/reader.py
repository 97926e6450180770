"""The ItemReader of a distributed Map: its evaluated definition (`ReaderSpec`), and the items it reads
(`open_reader`), a page at a time in AwsClients' thread pool, each with the cursor that resumes the read after it.

    spec = ReaderSpec.parse(evaluated_item_reader, resolve=lambda path: ...)   # MaxItemsPath's value
    reader = await open_reader(spec, clients, call, cursor=committed_cursor)    # None: from the start
    async for item in reader:                                                    # Item(value, cursor)
        ...                                                                      # commit item.cursor
    await reader.close()                                                         # when stopping early

A cursor is small JSON: `{"index": items read so far, "at": the format's position}` (a byte offset and the
object's ETag, a row group and row, the last listed key, a manifest's file and position).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import orjson

from stepline.engine.batching import max_items_value
from stepline.engine.resources import describe_resource
from stepline.errors import StatesError
from stepline.jsonvalue import JSON
from stepline.runtime.integrations.aws.clients import AwsClients
from stepline.runtime.integrations.registry import TaskCall
from stepline.runtime.items import csv as csv_file
from stepline.runtime.items.json import read_json
from stepline.runtime.items.jsonl import read_jsonl
from stepline.runtime.items.manifest import ReadFile, read_athena, read_inventory
from stepline.runtime.items.parquet import read_parquet
from stepline.runtime.items.s3 import READER_FAILED, S3, describe_object, list_objects

ITEM_LIMIT = 256 * 1024  # bytes of one item, as JSON: an execution's input limit
PAGE_ITEMS = 1000  # items read per trip to the thread pool
PAGE_BYTES = 4 << 20
INPUT_TYPES = ("CSV", "JSON", "JSONL", "MANIFEST", "PARQUET")


class Item(NamedTuple):
    value: JSON
    cursor: JSON  # resumes the read after this item


@dataclass(frozen=True, slots=True)
class ReaderSpec:
    resource: str  # arn:aws:states:::s3:getObject | arn:aws:states:::s3:listObjectsV2
    action: str  # "getObject" | "listObjectsV2"
    parameters: dict[str, Any]
    input_type: str | None = None
    headers: tuple[str, ...] | None = None  # None: the first row's (CSVHeaderLocation FIRST_ROW)
    delimiter: str = ","
    items_pointer: str | None = None
    manifest_type: str | None = None  # "S3_INVENTORY" | "ATHENA_DATA"
    load_and_flatten: bool = False  # listObjectsV2 with Transformation LOAD_AND_FLATTEN: read each object
    max_items: int | None = None  # None: every item
    item_limit: int = field(default=ITEM_LIMIT)

    @classmethod
    def parse(cls, reader: Mapping[str, Any], *, resolve: Callable[[str], JSON] | None = None) -> ReaderSpec:
        """An ItemReader whose Parameters (or Arguments) and JSONata fields the interpreter has evaluated;
        `resolve` gives the value of a reference path (MaxItemsPath) in the state's input and variables.
        Raises States.Runtime for a MaxItemsPath value that is not an integer (AWS fails the state before its
        Map Run starts), States.ItemReaderFailed for the rest (AWS fails the Map Run)."""
        resource = str(reader.get("Resource", ""))
        action = resource.rsplit(":", 1)[-1]
        parameters = dict(reader.get("Parameters") or reader.get("Arguments") or {})
        config = dict(reader.get("ReaderConfig") or {})
        if action not in ("getObject", "listObjectsV2"):
            raise StatesError(READER_FAILED, f"The ItemReader's Resource {resource!r} is not s3:getObject or "
                                             "s3:listObjectsV2")
        input_type = config.get("InputType")
        manifest_type = config.get("ManifestType")
        load_and_flatten = config.get("Transformation") == "LOAD_AND_FLATTEN"
        if action == "getObject" and input_type not in INPUT_TYPES:
            raise StatesError(READER_FAILED, f"ReaderConfig's InputType must be one of {', '.join(INPUT_TYPES)} "
                                             f"to read an object; got {input_type!r}")
        if action == "getObject" and not (isinstance(parameters.get("Bucket"), str)
                                          and isinstance(parameters.get("Key"), str)):
            raise StatesError(READER_FAILED, "The ItemReader's Parameters must name the object's Bucket and Key")
        if action == "listObjectsV2" and not isinstance(parameters.get("Bucket"), str):
            raise StatesError(READER_FAILED, "The ItemReader's Parameters must name the Bucket to list")
        headers = None
        if config.get("CSVHeaderLocation") == "GIVEN":
            given = config.get("CSVHeaders")
            if not isinstance(given, list) or not given or not all(isinstance(h, str) for h in given):
                raise StatesError(READER_FAILED, "CSVHeaderLocation GIVEN needs CSVHeaders, a list of names")
            headers = tuple(csv_file.check_headers(given))
        delimiter = config.get("CSVDelimiter", "COMMA")
        if delimiter not in csv_file.DELIMITERS:
            raise StatesError(READER_FAILED, f"CSVDelimiter must be one of {', '.join(csv_file.DELIMITERS)}; "
                                             f"got {delimiter!r}")
        if "MaxItemsPath" in config and resolve is not None:
            max_items = max_items_value(resolve(config["MaxItemsPath"]), "MaxItemsPath field refers to",
                                        config["MaxItemsPath"])
        else:
            max_items = max_items_value(config.get("MaxItems"), "MaxItems field has", "MaxItems")
        return cls(resource=resource, action=action, parameters=parameters, input_type=input_type,
                   headers=headers, delimiter=csv_file.DELIMITERS[delimiter],
                   items_pointer=config.get("ItemsPointer"), manifest_type=manifest_type,
                   load_and_flatten=load_and_flatten, max_items=max_items)


async def open_reader(spec: ReaderSpec, clients: AwsClients, call: TaskCall, cursor: JSON = None) -> ItemReader:
    """The items of the spec from `cursor` (None: the first). `call` says where S3 is and with which role, as
    for a Task (its resource the ItemReader's)."""
    s3 = S3(await clients.client(call, "s3"))
    index = cursor.get("index", 0) if isinstance(cursor, dict) else 0
    at = cursor.get("at") if isinstance(cursor, dict) else None
    return ItemReader(clients, _items(s3, spec, at), index, spec.max_items, spec.item_limit)


def reader_call(spec: ReaderSpec, execution_arn: str, state_name: str, *, role_arn: str | None = None) -> TaskCall:
    """The call whose region, role and route the reader's S3 requests use."""
    return TaskCall(resource=describe_resource(spec.resource), parameters=spec.parameters, state_name=state_name,
                    invocation=0, execution_arn=execution_arn, idempotency_key=execution_arn, role_arn=role_arn)


class ItemReader:
    """Items in order, each with its cursor; read a page at a time in the thread pool."""

    def __init__(self, clients: AwsClients, items: Iterator[tuple[JSON, JSON]], index: int,
                 max_items: int | None, item_limit: int) -> None:
        self.clients, self._items, self.index = clients, items, index
        self.max_items, self.item_limit, self._ended = max_items, item_limit, False

    async def read(self, count: int = PAGE_ITEMS) -> list[Item]:
        """Up to `count` more items; an empty list at the end."""
        if self._ended:
            return []
        page = await self.clients.run(self._page, count)
        if len(page) < count:
            self._ended = True
        return page

    async def __aiter__(self) -> AsyncIterator[Item]:
        while page := await self.read():
            for item in page:
                yield item

    async def close(self) -> None:
        self._ended = True
        await self.clients.run(self._items.close)  # type: ignore[attr-defined]

    def _page(self, count: int) -> list[Item]:
        page: list[Item] = []
        size = 0
        while len(page) < count and size < PAGE_BYTES:
            if self.max_items is not None and self.index >= self.max_items:
                break
            try:
                value, at = next(self._items)
            except StopIteration:
                break
            length = len(orjson.dumps(value))
            if length > self.item_limit:
                raise StatesError(READER_FAILED, f"The item at index {self.index} is {length} bytes, more than "
                                                 f"the limit of {self.item_limit}")
            self.index += 1
            size += length
            page.append(Item(value, {"index": self.index, "at": at}))
        return page


def _items(s3: S3, spec: ReaderSpec, at: JSON) -> Iterator[tuple[JSON, JSON]]:
    parameters = spec.parameters
    version = parameters.get("VersionId")
    if spec.action == "listObjectsV2":
        if spec.load_and_flatten:
            return _load_and_flatten(s3, parameters, at, _file_reader(s3, spec))
        return ((describe_object(entry), position) for entry, position in list_objects(s3, parameters, at))
    bucket, key = parameters["Bucket"], parameters["Key"]
    if spec.manifest_type == "ATHENA_DATA":
        return read_athena(s3, bucket, key, at, _file_reader(s3, spec), version=version)
    if spec.input_type == "MANIFEST":
        return read_inventory(s3, bucket, key, at, version=version)
    return _file_reader(s3, spec, version)(bucket, key, at)


def _file_reader(s3: S3, spec: ReaderSpec, version: str | None = None) -> ReadFile:
    """How one file of the spec's InputType is read: (bucket, key, cursor) -> items."""
    if spec.input_type == "JSON":
        return partial(read_json, s3, pointer=spec.items_pointer, item_limit=spec.item_limit, version=version)
    if spec.input_type == "JSONL":
        return partial(read_jsonl, s3, item_limit=spec.item_limit, version=version)
    if spec.input_type == "CSV":
        headers = list(spec.headers) if spec.headers is not None else None
        return partial(csv_file.read_csv, s3, delimiter=spec.delimiter, headers=headers,
                       item_limit=spec.item_limit, version=version)
    if spec.input_type == "PARQUET":
        return partial(read_parquet, s3, version=version)
    raise StatesError(READER_FAILED, f"InputType {spec.input_type!r} cannot be read from these objects")


def _load_and_flatten(s3: S3, parameters: dict[str, Any], at: JSON,
                      read_file: ReadFile) -> Iterator[tuple[JSON, JSON]]:
    """Every listed object's items, in the listing's order. Cursor: `{"after": the key before the object being
    read, "at": its position}`."""
    after = at.get("after") if isinstance(at, dict) else None
    inner = at.get("at") if isinstance(at, dict) else None
    for entry, _ in list_objects(s3, parameters, {"after": after}):
        if not (entry["Key"].endswith("/") and not entry.get("Size")):  # a "folder" placeholder
            for item, position in read_file(parameters["Bucket"], entry["Key"], inner):
                yield item, {"after": after, "at": position}
        after, inner = entry["Key"], None
