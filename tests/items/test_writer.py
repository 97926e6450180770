"""ResultWriter: the files and manifest written to moto's S3, read back; the Map's output."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from stepline.errors import StatesError
from stepline.runtime.items import writer as writer_module
from stepline.runtime.items.writer import ResultWriter, WriterSpec, open_writer, output
from stepline.runtime.items.reader import ReaderSpec, reader_call

pytestmark = pytest.mark.anyio

RUN = "arn:aws:states:us-east-1:123456789012:mapRun:sm/Map:6dbfba93-bcff-410b-9b5c-abf41ae9eddb"
START = datetime(2025, 2, 4, 16, 24, 20, 785000, tzinfo=timezone.utc)


def child(n: int, status: str = "SUCCEEDED", result: object = None) -> dict:
    description = {"executionArn": f"arn:aws:states:us-east-1:123456789012:execution:sm/Map:{n}", "name": str(n),
                   "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:sm/Map:x",
                   "status": status, "input": json.dumps({"n": n}), "inputDetails": {"included": True},
                   "startDate": START, "stopDate": START}
    if status == "SUCCEEDED":
        description |= {"output": json.dumps(result if result is not None else {"n": n}),
                        "outputDetails": {"included": True}}
    else:
        description |= {"error": "Boom", "cause": "it broke"}
    return description


CHILDREN = [child(0), child(1, "FAILED"), child(2, result=[1, 2]), child(3, "TIMED_OUT")]


async def write(clients, bucket: str, writer: dict, children: list[dict], **options) -> dict:
    spec = WriterSpec.parse({"Resource": "arn:aws:states:::s3:putObject", **writer,
                             "Parameters": {"Bucket": bucket, **writer.get("Parameters", {})}})
    call = reader_call(ReaderSpec("arn:aws:states:::s3:putObject", "getObject", {}), "e", "Map")
    result = await open_writer(spec, clients, call, RUN)
    if options:
        result = ResultWriter(spec, result.s3, clients, RUN, **options)
    for description in children:
        await result.add(description)
    return await result.finish()


def body(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


async def test_without_writer_config_the_files_hold_each_childs_description(clients, s3, bucket) -> None:
    answer = await write(clients, bucket, {"Parameters": {"Prefix": "jobs"}}, CHILDREN)
    folder = "jobs/6dbfba93-bcff-410b-9b5c-abf41ae9eddb/"
    assert answer == {"MapRunArn": RUN, "ResultWriterDetails": {"Bucket": bucket, "Key": folder + "manifest.json"}}
    manifest = json.loads(body(s3, bucket, folder + "manifest.json"))
    succeeded = body(s3, bucket, folder + "SUCCEEDED_0.json")
    failed = body(s3, bucket, folder + "FAILED_0.json")
    assert manifest == {"DestinationBucket": bucket, "MapRunArn": RUN, "ResultFiles": {
        "FAILED": [{"Key": folder + "FAILED_0.json", "Size": len(failed)}], "PENDING": [],
        "SUCCEEDED": [{"Key": folder + "SUCCEEDED_0.json", "Size": len(succeeded)}]}}
    assert json.loads(succeeded)[0] == {
        "ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:sm/Map:0", "Input": '{"n": 0}',
        "InputDetails": {"Included": True}, "Name": "0", "Output": '{"n": 0}', "OutputDetails": {"Included": True},
        "RedriveCount": 0, "RedriveStatus": "NOT_REDRIVABLE",
        "RedriveStatusReason": "Execution is SUCCEEDED and cannot be redriven", "StartDate": "2025-02-04T16:24:20.785Z",
        "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:sm/Map:x", "Status": "SUCCEEDED",
        "StopDate": "2025-02-04T16:24:20.785Z"}
    assert [(e["Status"], e["Error"], e["Cause"]) for e in json.loads(failed)] == [
        ("FAILED", "Boom", "it broke"), ("TIMED_OUT", "Boom", "it broke")]


@pytest.mark.parametrize(("transformation", "succeeded"), [
    ("COMPACT", [{"n": 0}, [1, 2]]),
    ("FLATTEN", [{"n": 0}, 1, 2]),
])
@pytest.mark.parametrize("output_type", ["JSON", "JSONL"])
async def test_writer_config_shapes_the_files(clients, s3, bucket, transformation, succeeded, output_type) -> None:
    config = {"WriterConfig": {"Transformation": transformation, "OutputType": output_type}}
    answer = await write(clients, bucket, {**config, "Parameters": {"Prefix": "out/"}}, CHILDREN)
    manifest = json.loads(body(s3, bucket, answer["ResultWriterDetails"]["Key"]))
    extension = "jsonl" if output_type == "JSONL" else "json"
    assert answer["ResultWriterDetails"]["Key"] == "out/6dbfba93-bcff-410b-9b5c-abf41ae9eddb/manifest.json"
    [entry] = manifest["ResultFiles"]["SUCCEEDED"]
    assert entry["Key"].endswith(f"/SUCCEEDED_0.{extension}")
    text = body(s3, bucket, entry["Key"])
    read = [json.loads(line) for line in text.splitlines()] if output_type == "JSONL" else json.loads(text)
    assert read == succeeded and entry["Size"] == len(text)
    [failed] = manifest["ResultFiles"]["FAILED"]
    failures = body(s3, bucket, failed["Key"])
    read = [json.loads(line) for line in failures.splitlines()] if output_type == "JSONL" else json.loads(failures)
    assert [e["Status"] for e in read] == ["FAILED", "TIMED_OUT"]  # a failure keeps its description


@pytest.mark.parametrize("output_type", ["JSON", "JSONL"])
async def test_files_are_split_at_the_size_limit(clients, s3, bucket, output_type) -> None:
    children = [child(n, result="x" * 40) for n in range(10)] + [{"status": "PENDING", "input": '{"n": 10}'}]
    answer = await write(clients, bucket, {"WriterConfig": {"Transformation": "COMPACT", "OutputType": output_type}},
                         children, file_limit=100)
    manifest = json.loads(body(s3, bucket, answer["ResultWriterDetails"]["Key"]))
    files = manifest["ResultFiles"]["SUCCEEDED"]
    assert [f["Key"].rsplit("/", 1)[1].split(".")[0] for f in files] == ["SUCCEEDED_0", "SUCCEEDED_1", "SUCCEEDED_2",
                                                                         "SUCCEEDED_3", "SUCCEEDED_4"]
    entries = []
    for f in files:
        text = body(s3, bucket, f["Key"])
        assert len(text) == f["Size"] <= 100
        entries += [json.loads(line) for line in text.splitlines()] if output_type == "JSONL" else json.loads(text)
    assert entries == ["x" * 40] * 10
    [pending] = manifest["ResultFiles"]["PENDING"]
    assert pending["Key"].endswith("/PENDING_0." + output_type.lower())
    assert answer["ResultWriterDetails"]["Key"] == "6dbfba93-bcff-410b-9b5c-abf41ae9eddb/manifest.json"


async def test_a_large_file_is_uploaded_in_parts(clients, s3, bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "PART_SIZE", 5 << 20)  # S3's smallest part
    children = [child(n, result="y" * 100_000) for n in range(120)]
    answer = await write(clients, bucket, {"WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSON"}},
                         children)
    [entry] = json.loads(body(s3, bucket, answer["ResultWriterDetails"]["Key"]))["ResultFiles"]["SUCCEEDED"]
    head = s3.head_object(Bucket=bucket, Key=entry["Key"], PartNumber=1)
    assert head["PartsCount"] == 3 and entry["Size"] == s3.head_object(Bucket=bucket, Key=entry["Key"])["ContentLength"]
    assert json.loads(body(s3, bucket, entry["Key"])) == ["y" * 100_000] * 120


async def test_a_missing_bucket_fails_the_writer(clients) -> None:
    with pytest.raises(StatesError) as failure:
        await write(clients, "no-such-result-bucket", {}, CHILDREN[:1])
    assert failure.value.error == "States.ResultWriterFailed"
    assert "(Service: S3, Status Code: 404" in failure.value.cause


@pytest.mark.parametrize(("writer", "expected"), [
    ({}, [{"n": 0}, [1, 2]]),
    ({"WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}}, [{"n": 0}, 1, 2]),
])
def test_without_a_resource_the_results_are_the_maps_output(writer: dict, expected: list) -> None:
    spec = WriterSpec.parse(writer) if writer else WriterSpec()
    assert output([CHILDREN[0], CHILDREN[2]], spec) == expected
    assert output(CHILDREN[:2], WriterSpec.parse({"WriterConfig": {"Transformation": "NONE", "OutputType": "JSON"}})
                  )[1]["Status"] == "FAILED"
