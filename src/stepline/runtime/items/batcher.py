"""The ItemBatcher: items grouped into one child execution's input, `{"BatchInput": ..., "Items": [...]}` (no
BatchInput key without one), at most MaxItemsPerBatch items and at most MaxInputBytesPerBatch bytes (the
whole input as compact JSON; 256 KiB, an execution's input limit, when not given).

    spec = BatcherSpec.parse(evaluated_item_batcher, resolve=lambda path: ...)
    async for batch in batches(reader, spec):        # Batch(value, cursor, length)
        ...                                          # start a child with batch.value; commit batch.cursor

A batch's cursor is its last item's, so a resumed read starts the next batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from stepline.errors import StatesError
from stepline.jsonvalue import JSON
from stepline.runtime.items.reader import ITEM_LIMIT, Item
from stepline.runtime.items.s3 import READER_FAILED

_ABSENT: Any = object()


class Batch(NamedTuple):
    value: JSON  # the child's input
    cursor: JSON  # resumes the read after the batch
    length: int  # items in it


@dataclass(frozen=True, slots=True)
class BatcherSpec:
    max_items: int | None = None
    max_bytes: int = ITEM_LIMIT
    batch_input: JSON = _ABSENT

    @classmethod
    def parse(cls, batcher: Mapping[str, Any], *, resolve: Callable[[str], JSON] | None = None) -> BatcherSpec:
        """An ItemBatcher whose JSONata fields and BatchInput the interpreter has evaluated; `resolve` gives a
        reference path's value (the *Path fields)."""
        max_items = _bound(batcher, "MaxItemsPerBatch", resolve, None)
        max_bytes = _bound(batcher, "MaxInputBytesPerBatch", resolve, ITEM_LIMIT)
        if max_bytes is not None and max_bytes > ITEM_LIMIT:
            raise StatesError("States.Runtime", f"MaxInputBytesPerBatch must be at most {ITEM_LIMIT}; got {max_bytes}")
        return cls(max_items=max_items, max_bytes=ITEM_LIMIT if max_bytes is None else max_bytes,
                   batch_input=batcher.get("BatchInput", _ABSENT))

    def envelope(self, items: list[JSON]) -> JSON:
        if self.batch_input is _ABSENT:
            return {"Items": items}
        return {"BatchInput": self.batch_input, "Items": items}


def _bound(batcher: Mapping[str, Any], name: str, resolve: Callable[[str], JSON] | None,
           default: int | None) -> int | None:
    path = batcher.get(f"{name}Path")
    if path is not None and resolve is not None:
        value, words = resolve(path), f"The {name}Path field refers to value"
    elif name in batcher:
        value, words, path = batcher[name], f"The {name} field has value", name
    else:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        shown = orjson.dumps(value).decode().strip('"')
        raise StatesError("States.Runtime", f"{words} \"{shown}\" which is not a valid positive integer: {path}")
    return value


async def batches(items: AsyncIterable[Item], spec: BatcherSpec) -> AsyncIterator[Batch]:
    """The items' batches, in order."""
    base = len(orjson.dumps(spec.envelope([])))
    batch: list[JSON] = []
    size, cursor = base, None
    async for item in items:
        length = len(orjson.dumps(item.value)) + (1 if batch else 0)
        full = spec.max_items is not None and len(batch) >= spec.max_items
        if batch and (full or size + length > spec.max_bytes):
            yield Batch(spec.envelope(batch), cursor, len(batch))
            batch, size, length = [], base, length - 1
        if size + length > spec.max_bytes:
            raise StatesError(READER_FAILED, f"An item of {length} bytes does not fit in a batch of at most "
                                             f"{spec.max_bytes} bytes (MaxInputBytesPerBatch), with the BatchInput")
        batch.append(item.value)
        size += length
        cursor = item.cursor
    if batch:
        yield Batch(spec.envelope(batch), cursor, len(batch))
