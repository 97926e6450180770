"""ItemReader: every format and option against moto's S3, resumption from any cursor, AWS's errors."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import pyarrow
import pyarrow.parquet
import pytest

from stepline.errors import StatesError
from stepline.runtime.items import json as json_reader
from stepline.runtime.items.reader import ReaderSpec

pytestmark = pytest.mark.anyio

ROWS = [{"id": 1, "name": "a,b", "tags": ["x", "]"]}, {"id": 2, "name": "quote \" and \\ and {"}, None, "s",
        3.5, [], {}, {"nested": {"deep": [1, {"k": "v"}]}}]


def values(items: list) -> list:
    return [item.value for item in items]


def json_reader_def(key: str, **config: Any) -> dict:
    return {"ReaderConfig": {"InputType": "JSON", **config}, "Parameters": {"Key": key}}


async def test_a_json_array_is_read_item_by_item(put, read) -> None:
    put("rows.json", json.dumps(ROWS, indent=2))
    assert values(await read(json_reader_def("rows.json"))) == ROWS


async def test_json_items_span_chunk_boundaries_without_a_pointer(put, read, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_reader, "CHUNK", 2)
    put("rows.json", " \n" + json.dumps(ROWS))
    assert values(await read(json_reader_def("rows.json"))) == ROWS


async def test_json_items_span_chunk_boundaries(put, read, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_reader, "CHUNK", 3)
    put("rows.json", json.dumps({"before": [1, "]", {"a": "}"}], "data": {"items": ROWS}}))
    assert values(await read(json_reader_def("rows.json", ItemsPointer="/data/items"))) == ROWS


@pytest.mark.parametrize(("document", "pointer", "expected"), [
    pytest.param({"a": {"b": [1, 2]}}, "/a/b", [1, 2], id="object-path"),
    pytest.param({"a": [[0], [7, 8]]}, "/a/1", [7, 8], id="array-index"),
    pytest.param({"a/b": {"~c": [5]}}, "/a~1b/~0c", [5], id="escaped-tokens"),
    pytest.param({"x": 1, "a": []}, "/a", [], id="empty-array"),
])
async def test_items_pointer_names_the_array_inside_an_object(put, read, document, pointer, expected) -> None:
    put("doc.json", json.dumps(document))
    assert values(await read(json_reader_def("doc.json", ItemsPointer=pointer))) == expected


@pytest.mark.parametrize(("body", "config", "cause"), [
    pytest.param({"Hello": "world"}, {}, "Attempting to map over non-iterable node.", id="object-not-array"),
    pytest.param({"a": {"b": 1}}, {"ItemsPointer": "/a/b"}, "Attempting to map over non-iterable node.",
                 id="pointer-to-a-number"),
    pytest.param({"a": {"b": 1}}, {"ItemsPointer": "/a/c"}, "The ItemsPointer '/a/c' matches no value in the "
                 "JSON file", id="pointer-matches-nothing"),
])
async def test_json_that_is_not_an_array_fails_the_reader(put, read, body, config, cause) -> None:
    put("doc.json", json.dumps(body))
    with pytest.raises(StatesError) as failure:
        await read(json_reader_def("doc.json", **config))
    assert (failure.value.error, failure.value.cause) == ("States.ItemReaderFailed", cause)


@pytest.mark.parametrize("body", ['[1, 2', '[1 2]', '[{"a": }]', '[1, "open'])
async def test_malformed_json_fails_the_reader(put, read, body) -> None:
    put("bad.json", body)
    with pytest.raises(StatesError) as failure:
        await read(json_reader_def("bad.json"))
    assert failure.value.error == "States.ItemReaderFailed"


async def test_jsonl_is_read_line_by_line_skipping_blank_lines(put, read) -> None:
    put("rows.jsonl", "\n".join(json.dumps(row) for row in ROWS) + "\n\n  \n")
    items = await read({"ReaderConfig": {"InputType": "JSONL"}, "Parameters": {"Key": "rows.jsonl"}})
    assert values(items) == ROWS


async def test_a_jsonl_line_that_is_not_json_fails_the_reader(put, read) -> None:
    put("rows.jsonl", '{"a": 1}\n{"a": \n')
    with pytest.raises(StatesError) as failure:
        await read({"ReaderConfig": {"InputType": "JSONL"}, "Parameters": {"Key": "rows.jsonl"}})
    assert failure.value.error == "States.ItemReaderFailed"


CSV = "Value1,Value2,Value3\nValue4,Value5,Value6\n,,,\ntrue,1,'HelloWorld'\nNull,None,\n   \n"


def csv_def(key: str, **config: Any) -> dict:
    return {"ReaderConfig": {"InputType": "CSV", **config}, "Parameters": {"Key": key}}


async def test_csv_given_headers_drop_extra_fields_as_recorded_on_aws(put, read) -> None:
    put("f.csv", CSV)
    items = await read(csv_def("f.csv", CSVHeaderLocation="GIVEN", CSVHeaders=["H1"]))
    assert values(items) == [{"H1": "Value1"}, {"H1": "Value4"}, {"H1": ""}, {"H1": "true"}, {"H1": "Null"},
                             {"H1": "   "}]


async def test_csv_first_row_headers_fill_missing_fields_as_recorded_on_aws(put, read) -> None:
    put("f.csv", "0,True,{}\nValue4,Value5,Value6\n,,,\ntrue,1,'HelloWorld'\nNull,None,\n   \n")
    items = await read(csv_def("f.csv", CSVHeaderLocation="FIRST_ROW"))
    assert values(items) == [{"0": "Value4", "True": "Value5", "{}": "Value6"}, {"0": "", "True": "", "{}": ""},
                             {"0": "true", "True": "1", "{}": "'HelloWorld'"}, {"0": "Null", "True": "None", "{}": ""},
                             {"0": "   ", "True": "", "{}": ""}]


@pytest.mark.parametrize(("name", "mark"), [("COMMA", ","), ("PIPE", "|"), ("SEMICOLON", ";"), ("SPACE", " "),
                                            ("TAB", "\t")])
async def test_each_csv_delimiter(put, read, name, mark) -> None:
    body = mark.join(["a", "b"]) + "\r\n" + mark.join(["1", '"x' + mark + 'y\nz"']) + "\r\n"
    put("f.csv", "\ufeff" + body)
    items = await read(csv_def("f.csv", CSVDelimiter=name))
    assert values(items) == [{"a": "1", "b": "x" + mark + "y\nz"}]


async def test_csv_duplicate_headers_fail_the_reader_as_on_aws(put, read) -> None:
    put("f.csv", CSV)
    for config in ({"CSVHeaderLocation": "GIVEN", "CSVHeaders": ["H1", "H1", "H3"]}, {}):
        put("dup.csv", "H1,H1\n1,2\n")
        with pytest.raises(StatesError) as failure:
            await read(csv_def("f.csv" if config else "dup.csv", **config))
        assert (failure.value.error, failure.value.cause) == ("States.ItemReaderFailed",
                                                              "CSV headers cannot contain duplicates.")


async def test_a_malformed_csv_row_fails_the_reader(put, read) -> None:
    put("f.csv", 'a,b\n1,2\n3,"4"x\n')
    with pytest.raises(StatesError) as failure:
        await read(csv_def("f.csv"))
    assert failure.value.error == "States.ItemReaderFailed"
    assert "malformed" in failure.value.cause


def parquet_bytes(rows: list[dict], row_group_size: int) -> bytes:
    sink = io.BytesIO()
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), sink, row_group_size=row_group_size)
    return sink.getvalue()


async def test_parquet_rows_across_row_groups(put, read) -> None:
    rows = [{"id": n, "name": f"n{n}", "score": n / 2, "tags": ["t"] * (n % 3), "flag": n % 2 == 0}
            for n in range(25)]
    put("f.parquet", parquet_bytes(rows, 10))
    items = await read({"ReaderConfig": {"InputType": "PARQUET"}, "Parameters": {"Key": "f.parquet"}})
    assert values(items) == rows


async def test_a_file_that_is_not_parquet_fails_the_reader(put, read) -> None:
    put("f.parquet", b"not parquet at all")
    with pytest.raises(StatesError) as failure:
        await read({"ReaderConfig": {"InputType": "PARQUET"}, "Parameters": {"Key": "f.parquet"}})
    assert failure.value.error == "States.ItemReaderFailed"


def inventory(put, bucket: str, files: list[list[list[str]]], file_format: str = "CSV") -> None:
    keys = []
    for number, rows in enumerate(files):
        key = f"inventory/data/{number}.csv.gz"
        put(key, gzip.compress("".join(",".join(f'"{v}"' for v in row) + "\n" for row in rows).encode()))
        keys.append({"key": key, "size": 1, "MD5checksum": "x"})
    put("inventory/manifest.json", json.dumps({
        "sourceBucket": "source", "destinationBucket": f"arn:aws:s3:::{bucket}", "version": "2016-11-30",
        "fileFormat": file_format, "fileSchema": "Bucket, Key, Size", "files": keys}))


async def test_an_s3_inventory_manifest_lists_its_objects(put, read, bucket) -> None:
    inventory(put, bucket, [[["source", "a.txt", "3"], ["source", "b.txt", "4"]], [["source", "c/d.txt", "5"]]])
    items = await read({"ReaderConfig": {"InputType": "MANIFEST"}, "Parameters": {"Key": "inventory/manifest.json"}})
    assert values(items) == [{"Bucket": "source", "Key": "a.txt", "Size": "3"},
                             {"Bucket": "source", "Key": "b.txt", "Size": "4"},
                             {"Bucket": "source", "Key": "c/d.txt", "Size": "5"}]


async def test_an_inventory_that_is_not_csv_fails_the_reader(put, read, bucket) -> None:
    inventory(put, bucket, [], file_format="ORC")
    with pytest.raises(StatesError) as failure:
        await read({"ReaderConfig": {"InputType": "MANIFEST"}, "Parameters": {"Key": "inventory/manifest.json"}})
    assert failure.value.error == "States.ItemReaderFailed"


async def test_an_athena_data_manifest_reads_each_data_file(put, read, bucket) -> None:
    put("athena/1.jsonl", '{"n": 1}\n{"n": 2}\n')
    put("athena/2.jsonl", '{"n": 3}\n')
    put("athena/q-manifest.csv", f"s3://{bucket}/athena/1.jsonl\ns3://{bucket}/athena/2.jsonl\n")
    items = await read({"ReaderConfig": {"InputType": "JSONL", "ManifestType": "ATHENA_DATA"},
                        "Parameters": {"Key": "athena/q-manifest.csv"}})
    assert values(items) == [{"n": 1}, {"n": 2}, {"n": 3}]


LISTED = ["data/a.txt", "data/b.txt", "data/sub/c.txt", "other/d.txt"]


async def test_list_objects_v2_gives_each_objects_description(put, read, s3, bucket) -> None:
    for key in LISTED:
        put(key, key)
    items = await read({"Resource": "arn:aws:states:::s3:listObjectsV2",
                        "Parameters": {"Prefix": "data/", "MaxKeys": 2}})
    listed = {entry["Key"]: entry for entry in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert values(items) == [{"Etag": listed[key]["ETag"], "Key": key,
                              "LastModified": int(listed[key]["LastModified"].timestamp()),
                              "Size": len(key), "StorageClass": "STANDARD"} for key in LISTED[:3]]
    assert items[0].value["Etag"].startswith('"')


async def test_list_objects_v2_with_a_delimiter_lists_only_the_objects(put, read) -> None:
    for key in LISTED:
        put(key, key)
    items = await read({"Resource": "arn:aws:states:::s3:listObjectsV2",
                        "Parameters": {"Prefix": "data/", "Delimiter": "/"}})
    assert [item["Key"] for item in values(items)] == LISTED[:2]


async def test_load_and_flatten_reads_every_listed_object(put, read) -> None:
    put("in/1.csv", "a\n1\n2\n")
    put("in/2.csv", "a\n3\n")
    put("in/folder/", "")
    items = await read({"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Prefix": "in/"},
                        "ReaderConfig": {"InputType": "CSV", "Transformation": "LOAD_AND_FLATTEN"}})
    assert values(items) == [{"a": "1"}, {"a": "2"}, {"a": "3"}]


@pytest.mark.parametrize(("config", "count"), [({"MaxItems": 2}, 2), ({"MaxItems": 0}, 8), ({}, 8),
                                               ({"MaxItems": 100000001}, 8)])
async def test_max_items(put, read, config, count) -> None:
    put("rows.json", json.dumps(ROWS))
    assert values(await read(json_reader_def("rows.json", **config))) == ROWS[:count]


@pytest.mark.parametrize(("value", "error", "cause"), [
    (-1, "States.ItemReaderFailed", "field MaxItems must be positive"),
    (1.5, "States.Runtime", 'The MaxItemsPath field refers to value "1.5" which is not a valid integer: '
                            "$.MaxItems"),
])
async def test_max_items_path_errors_as_recorded_on_aws(read, value, error, cause) -> None:
    with pytest.raises(StatesError) as failure:
        await read(json_reader_def("rows.json", MaxItemsPath="$.MaxItems"), resolve=lambda path: value)
    assert (failure.value.error, failure.value.cause) == (error, cause)


async def test_max_items_path_and_jsonata_values(put, read) -> None:
    put("rows.json", json.dumps(ROWS))
    assert len(await read(json_reader_def("rows.json", MaxItemsPath="$.n"), resolve=lambda path: "3")) == 3
    assert len(await read(json_reader_def("rows.json", MaxItems=4.0))) == 4


@pytest.mark.parametrize(("parameters", "cause"), [
    ({"Bucket": "no-such-bucket-anywhere", "Key": "k"}, "The specified bucket does not exist"),
    ({"Key": "missing.json"}, "The specified key does not exist."),
])
async def test_a_missing_bucket_or_key_fails_the_reader(read, parameters, cause) -> None:
    with pytest.raises(StatesError) as failure:
        await read({"ReaderConfig": {"InputType": "JSON"}, "Parameters": parameters})
    assert failure.value.error == "States.ItemReaderFailed"
    assert failure.value.cause.startswith(cause) and "(Service: S3, Status Code: 404, Request ID: " in \
        failure.value.cause


@pytest.mark.parametrize("input_type", ["JSON", "JSONL", "CSV"])
async def test_an_item_over_the_size_limit_fails_the_reader(put, read, input_type) -> None:
    big = "x" * 300
    body = {"JSON": json.dumps([1, {"big": big}]), "JSONL": f'1\n{{"big": "{big}"}}\n', "CSV": f"big\n1\n{big}\n"}
    put("f", body[input_type])
    with pytest.raises(StatesError) as failure:
        await read({"ReaderConfig": {"InputType": input_type}, "Parameters": {"Key": "f"}}, item_limit=200)
    assert failure.value.error == "States.ItemReaderFailed"
    assert "limit of 200" in failure.value.cause


FORMATS = {
    "json": (json_reader_def("f", ItemsPointer="/items"), lambda put, bucket: put("f", json.dumps({"items": ROWS}))),
    "jsonl": ({"ReaderConfig": {"InputType": "JSONL"}, "Parameters": {"Key": "f"}},
              lambda put, bucket: put("f", "\n".join(json.dumps(row) for row in ROWS))),
    "csv-first-row": (csv_def("f"), lambda put, bucket: put("f", "a,b\n" + "".join(f"{n},{n * n}\n" for n in range(9)))),
    "csv-given": (csv_def("f", CSVHeaderLocation="GIVEN", CSVHeaders=["a", "b"]),
                  lambda put, bucket: put("f", "".join(f'{n},"{n}\n{n}"\n' for n in range(9)))),
    "parquet": ({"ReaderConfig": {"InputType": "PARQUET"}, "Parameters": {"Key": "f"}},
                lambda put, bucket: put("f", parquet_bytes([{"n": n} for n in range(9)], 4))),
    "inventory": ({"ReaderConfig": {"InputType": "MANIFEST"}, "Parameters": {"Key": "inventory/manifest.json"}},
                  lambda put, bucket: inventory(put, bucket, [[["b", f"k{n}", "1"] for n in range(4)],
                                                              [["b", f"j{n}", "1"] for n in range(5)]])),
    "athena": ({"ReaderConfig": {"InputType": "CSV", "ManifestType": "ATHENA_DATA"}, "Parameters": {"Key": "m"}},
               lambda put, bucket: [put("d1", "a\n1\n2\n"), put("d2", "a\n3\n4\n5\n"),
                                    put("m", f"s3://{bucket}/d1\ns3://{bucket}/d2\n")]),
    "list": ({"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Prefix": "p/", "MaxKeys": 3}},
             lambda put, bucket: [put(f"p/{n}", "x") for n in range(8)]),
    "load-and-flatten": ({"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Prefix": "p/"},
                          "ReaderConfig": {"InputType": "JSONL", "Transformation": "LOAD_AND_FLATTEN"}},
                         lambda put, bucket: [put(f"p/{n}", f"{n}\n{n + 10}\n") for n in range(4)]),
}


@pytest.mark.parametrize("name", FORMATS)
async def test_a_read_resumes_after_any_items_cursor(put, read, bucket, name) -> None:
    item_reader, store = FORMATS[name]
    store(put, bucket)
    items = await read(item_reader)
    assert len(items) >= 5
    for position in range(len(items)):
        rest = await read(item_reader, cursor=items[position].cursor)
        assert values(rest) == values(items[position + 1:]), position
        assert [item.cursor for item in rest] == [item.cursor for item in items[position + 1:]]
    json.dumps(items[-1].cursor)  # a cursor is JSON


async def test_max_items_holds_across_a_resumed_read(put, read) -> None:
    put("rows.json", json.dumps(ROWS))
    first = await read(json_reader_def("rows.json", MaxItems=5))
    rest = await read(json_reader_def("rows.json", MaxItems=5), cursor=first[2].cursor)
    assert values(rest) == ROWS[3:5]


async def test_a_resumed_read_of_a_changed_file_fails(put, read) -> None:
    put("rows.json", json.dumps(ROWS))
    items = await read(json_reader_def("rows.json"))
    put("rows.json", json.dumps(ROWS[::-1]))
    with pytest.raises(StatesError) as failure:
        await read(json_reader_def("rows.json"), cursor=items[2].cursor)
    assert failure.value.error == "States.ItemReaderFailed" and "changed" in failure.value.cause


def test_reader_config_errors() -> None:
    base = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k"}}
    for config in ({"InputType": "XML"}, {"InputType": "CSV", "CSVDelimiter": "COLON"},
                   {"InputType": "CSV", "CSVHeaderLocation": "GIVEN"}):
        with pytest.raises(StatesError) as failure:
            ReaderSpec.parse({**base, "ReaderConfig": config})
        assert failure.value.error == "States.ItemReaderFailed"
