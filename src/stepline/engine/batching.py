"""A distributed Map's item rules, pure: ReaderConfig's MaxItems (`max_items_value`), and the ItemBatcher's: a
batch is `{"BatchInput": ..., "Items": [...]}` (no BatchInput key without one) of at most MaxItemsPerBatch items
and at most MaxInputBytesPerBatch bytes (the whole input as compact JSON; 256 KiB, an execution's input limit,
when not given). A Map Run batches the items it reads (runtime/items/batcher.py);
TestState batches its items the same way (afterItemBatcher).

    spec = BatcherSpec.parse(evaluated_item_batcher, resolve=lambda path: ...)
    grouping = Grouping(spec)
    for item in items:
        for batch in grouping.add(item): ...          # (the batch, its items) when one is full
    last = grouping.end()                             # the rest, or None
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from stepline.errors import StatesError
from stepline.jsonvalue import JSON

INPUT_LIMIT = 256 * 1024  # bytes of a child execution's input
MAX_ITEMS_LIMIT = 100_000_000
READER_FAILED = "States.ItemReaderFailed"
_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class BatcherSpec:
    max_items: int | None = None
    max_bytes: int = INPUT_LIMIT
    batch_input: JSON = _ABSENT

    @classmethod
    def parse(cls, batcher: Mapping[str, Any], *, resolve: Callable[[str], JSON] | None = None) -> BatcherSpec:
        """An ItemBatcher whose JSONata fields and BatchInput the interpreter has evaluated; `resolve` gives a
        reference path's value (the *Path fields)."""
        max_items = _bound(batcher, "MaxItemsPerBatch", resolve, None)
        max_bytes = _bound(batcher, "MaxInputBytesPerBatch", resolve, INPUT_LIMIT)
        if max_bytes is not None and max_bytes > INPUT_LIMIT:
            raise StatesError("States.Runtime", f"MaxInputBytesPerBatch must be at most {INPUT_LIMIT}; got {max_bytes}")
        return cls(max_items=max_items, max_bytes=INPUT_LIMIT if max_bytes is None else max_bytes,
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


def max_items_value(value: JSON, field_words: str, where: str) -> int | None:
    """MaxItems: None (0 or absent) reads every item; more than 100,000,000 reads them all too."""
    if value is None:
        return None
    number = value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if not isinstance(number, int) or isinstance(number, bool):
        shown = value if isinstance(value, str) else orjson.dumps(value).decode()
        raise StatesError("States.Runtime", f"The {field_words} value \"{shown}\" which is not a valid "
                                            f"integer: {where}")
    if number < 0:
        raise StatesError(READER_FAILED, "field MaxItems must be positive")
    return None if number == 0 or number > MAX_ITEMS_LIMIT else number


class Grouping:
    """Items grouped into batches, in order, as they come."""

    def __init__(self, spec: BatcherSpec) -> None:
        self.spec = spec
        self._base = len(orjson.dumps(spec.envelope([])))
        self._items: list[JSON] = []
        self._size = self._base

    def add(self, item: JSON) -> list[tuple[JSON, int]]:
        """The batch this item closed, if it did (with its length); the item starts or joins the next one."""
        spec = self.spec
        length = len(orjson.dumps(item)) + (1 if self._items else 0)
        closed = []
        full = spec.max_items is not None and len(self._items) >= spec.max_items
        if self._items and (full or self._size + length > spec.max_bytes):
            closed.append((spec.envelope(self._items), len(self._items)))
            self._items, self._size, length = [], self._base, length - 1
        if self._size + length > spec.max_bytes:
            raise StatesError(READER_FAILED, f"An item of {length} bytes does not fit in a batch of at most "
                                             f"{spec.max_bytes} bytes (MaxInputBytesPerBatch), with the BatchInput")
        self._items.append(item)
        self._size += length
        return closed

    def end(self) -> tuple[JSON, int] | None:
        """The last batch (None when there are no items left)."""
        if not self._items:
            return None
        batch = (self.spec.envelope(self._items), len(self._items))
        self._items, self._size = [], self._base
        return batch


def batch_all(items: list[JSON], spec: BatcherSpec) -> list[JSON]:
    """Every batch of the items."""
    grouping = Grouping(spec)
    batches = [batch for item in items for batch, _ in grouping.add(item)]
    last = grouping.end()
    return batches + ([last[0]] if last is not None else [])
