"""ItemBatcher: batches shaped as AWS shapes them, within MaxItemsPerBatch and MaxInputBytesPerBatch."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from stepline.errors import StatesError
from stepline.runtime.items.batcher import Batch, BatcherSpec, batches
from stepline.runtime.items.reader import Item

pytestmark = pytest.mark.anyio


async def items(values: list) -> AsyncIterator[list[Item]]:
    """The items in pages of three (batches span pages)."""
    for start in range(0, len(values), 3):
        yield [Item(value, {"index": index + 1}) for index, value in enumerate(values[start:start + 3], start)]


async def batch(values: list, batcher: dict, resolve=None) -> list[Batch]:
    return [b async for b in batches(items(values), BatcherSpec.parse(batcher, resolve=resolve))]


async def test_batches_of_max_items_with_their_batch_input() -> None:
    result = await batch(list(range(5)), {"MaxItemsPerBatch": 2, "BatchInput": {"At": "now"}})
    assert [b.value for b in result] == [{"BatchInput": {"At": "now"}, "Items": [0, 1]},
                                        {"BatchInput": {"At": "now"}, "Items": [2, 3]},
                                        {"BatchInput": {"At": "now"}, "Items": [4]}]
    assert [(b.cursor, b.length) for b in result] == [({"index": 2}, 2), ({"index": 4}, 2), ({"index": 5}, 1)]


async def test_without_batch_input_a_batch_is_only_its_items() -> None:
    assert [b.value for b in await batch(["a", "b"], {"MaxItemsPerBatch": 5})] == [{"Items": ["a", "b"]}]


@pytest.mark.parametrize("limit", [52, 53, 57, 100])
async def test_batches_fill_max_input_bytes_exactly(limit: int) -> None:
    values = [{"k": "v" * n} for n in range(12)]
    result = await batch(values, {"MaxInputBytesPerBatch": limit, "BatchInput": {"b": 1}})
    assert [v for b in result for v in b.value["Items"]] == values
    for this, following in zip(result, result[1:]):
        assert len(orjson.dumps(this.value)) <= limit
        grown = {**this.value, "Items": [*this.value["Items"], following.value["Items"][0]]}
        assert len(orjson.dumps(grown)) > limit  # the next item would not have fit


async def test_both_limits_apply() -> None:
    result = await batch(["x" * 10] * 6, {"MaxItemsPerBatch": 4, "MaxInputBytesPerBatch": 50})
    assert [b.length for b in result] == [3, 3]


async def test_an_item_bigger_than_a_batch_fails_the_map_run() -> None:
    with pytest.raises(StatesError) as failure:
        await batch(["small", "x" * 100], {"MaxInputBytesPerBatch": 60})
    assert failure.value.error == "States.ItemReaderFailed"


async def test_without_limits_batches_hold_up_to_256_kib() -> None:
    result = await batch(["x" * 1000] * 600, {})
    assert [b.length for b in result] == [261, 261, 78]
    assert all(len(orjson.dumps(b.value)) <= 262144 for b in result)


async def test_path_forms_read_the_input() -> None:
    given = {"$.n": 3, "$.bytes": 1000}
    result = await batch(list(range(7)), {"MaxItemsPerBatchPath": "$.n", "MaxInputBytesPerBatchPath": "$.bytes"},
                         resolve=given.__getitem__)
    assert [b.length for b in result] == [3, 3, 1]


@pytest.mark.parametrize("batcher", [{"MaxItemsPerBatch": 0}, {"MaxItemsPerBatchPath": "$.n"},
                                     {"MaxInputBytesPerBatch": 262145}, {"MaxItemsPerBatch": "2"}])
def test_invalid_batch_limits_fail_the_state(batcher: dict) -> None:
    with pytest.raises(StatesError) as failure:
        BatcherSpec.parse(batcher, resolve=lambda path: 1.5)
    assert failure.value.error == "States.Runtime"
