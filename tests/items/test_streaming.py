"""A large file is read with memory bounded by a page of items, not by the file."""

from __future__ import annotations

import tracemalloc

import pytest

pytestmark = pytest.mark.anyio

ROWS = 200_000
TRACED = 40_000  # items read under tracemalloc (it makes each allocation slow): a reader that held the file,
#                  or more than a page of its items, would hold them by then


async def test_a_200k_row_csv_is_read_in_bounded_memory(put, open_items) -> None:
    body = "id,name,amount\n" + "".join(f"{n},name-{n},{n % 997}.25\n" for n in range(ROWS))
    put("big.csv", body)
    size = len(body)
    del body
    reader = await open_items({"ReaderConfig": {"InputType": "CSV"}, "Parameters": {"Key": "big.csv"}})
    tracemalloc.start()  # the S3 client (its model: 11 MB) is made; reading starts with the first item
    try:
        count = 0
        async for item in reader:
            count += 1
            if count == TRACED:
                break
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    async for item in reader:
        count, last = count + 1, item.value
    assert (count, last) == (ROWS, {"id": str(ROWS - 1), "name": f"name-{ROWS - 1}",
                                    "amount": f"{(ROWS - 1) % 997}.25"})
    assert size > 4_900_000 and peak < 4_000_000, peak  # the file's items as Python objects: ~60 MB
