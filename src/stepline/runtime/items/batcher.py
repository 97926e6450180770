"""The ItemBatcher of a Map Run: items read a page at a time, grouped by the rules of engine/batching.py.

    spec = BatcherSpec.parse(evaluated_item_batcher, resolve=lambda path: ...)
    async for batch in batches(pages, spec):         # pages: lists of Items; Batch(value, cursor, length)
        ...                                          # start a child with batch.value; commit batch.cursor

A batch's cursor is its last item's, so a resumed read starts the next batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import NamedTuple

from stepline.engine.batching import BatcherSpec, Grouping
from stepline.jsonvalue import JSON
from stepline.runtime.items.reader import Item

__all__ = ["Batch", "BatcherSpec", "batches"]


class Batch(NamedTuple):
    value: JSON  # the child's input
    cursor: JSON  # resumes the read after the batch
    length: int  # items in it


async def batches(pages: AsyncIterable[list[Item]], spec: BatcherSpec) -> AsyncIterator[Batch]:
    """The items' batches, in order (a page's items are grouped together, without a pause per item)."""
    grouping = Grouping(spec)
    cursor: JSON = None
    async for page in pages:
        closed = []
        for item in page:
            for value, length in grouping.add(item.value):
                closed.append(Batch(value, cursor, length))
            cursor = item.cursor
        for batch in closed:
            yield batch
    last = grouping.end()
    if last is not None:
        yield Batch(last[0], cursor, last[1])
