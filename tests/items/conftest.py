"""Item readers, batches and result writers against moto's S3 server: `put(key, body)` stores an object in a
fresh bucket, `read(item_reader)` reads every item the evaluated ItemReader gives."""

from __future__ import annotations

import uuid
from dataclasses import replace
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aws_services import aws_client

from stepline.jsonvalue import JSON
from stepline.runtime.integrations.aws.clients import AwsClients
from stepline.runtime.items.reader import Item, ItemReader, ReaderSpec, open_reader, reader_call

Read = Callable[..., Awaitable[list[Item]]]


@pytest.fixture
def s3(aws: pytest.MonkeyPatch) -> Any:
    return aws_client("s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"items-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def put(s3: Any, bucket: str) -> Callable[[str, bytes | str], None]:
    def store(key: str, body: bytes | str) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
    return store


@pytest.fixture
async def clients(aws: pytest.MonkeyPatch) -> AsyncIterator[AwsClients]:
    clients = AwsClients()
    yield clients
    await clients.close()


@pytest.fixture
def open_items(clients: AwsClients, bucket: str) -> Callable[..., Awaitable[ItemReader]]:
    """The reader of an evaluated ItemReader (the fresh bucket by default)."""
    async def open_(item_reader: dict[str, Any], cursor: JSON = None, resolve: Callable[[str], JSON] | None = None,
                    **spec_changes: Any) -> ItemReader:
        item_reader = {"Resource": "arn:aws:states:::s3:getObject", **item_reader}
        item_reader.setdefault("Parameters", {}).setdefault("Bucket", bucket)
        spec = replace(ReaderSpec.parse(item_reader, resolve=resolve), **spec_changes)
        call = reader_call(spec, "arn:aws:states:us-east-1:123456789012:execution:sm:run", "Map")
        return await open_reader(spec, clients, call, cursor)
    return open_


@pytest.fixture
def read(open_items: Callable[..., Awaitable[ItemReader]]) -> Read:
    """Every item of an evaluated ItemReader."""
    async def read_items(*args: Any, **kwargs: Any) -> list[Item]:
        return [item async for item in await open_items(*args, **kwargs)]
    return read_items
