"""Distributed Maps run for real: items read from moto's S3 server, child executions under a Map Run, batches,
results written back to S3, tolerated failures, UpdateMapRun on a running run, a stop, bad input; on SQLite and on
PostgreSQL (the application layer over each store, its durable runtime running the children)."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pyarrow
import pyarrow.parquet
import pytest
from support import fresh_schema

from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

pytestmark = pytest.mark.anyio

ROLE = "arn:aws:iam::123456789012:role/stepline-tests"
PREFIX = "arn:aws:states:us-east-1:123456789012"


@pytest.fixture
def time_scale() -> float:
    """Virtual time, unless a test parametrizes it."""
    return 0


@pytest.fixture(params=["sqlite", "postgres"])
async def service(request: pytest.FixtureRequest, tmp_path: Path, aws: pytest.MonkeyPatch, time_scale: float
                  ) -> AsyncIterator[StepFunctionsService]:
    """The application on a fresh store of each kind, its AWS calls to moto's server."""
    if request.param == "sqlite":
        settings = Settings(db=str(tmp_path / "store.db"), time_scale=time_scale, poll_seconds=0.2)
        service = StepFunctionsService(settings)
        await service.start()
        yield service
        await service.close()
        return
    with fresh_schema(request.getfixturevalue("postgres_url"), "maps") as (location, _):
        service = StepFunctionsService(Settings(db=location, time_scale=time_scale, poll_seconds=0.2))
        await service.start()
        yield service
        await service.close()


@pytest.fixture
def bucket(s3: Any, service: StepFunctionsService) -> str:
    """conftest's fresh bucket, made once the service (and its AWS configuration) is up."""
    name = f"maps-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def distributed(processor_states: dict, execution_type: str = "STANDARD", **fields: Any) -> dict:
    start = next(iter(processor_states))
    return {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "End": True, **fields,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
                          "StartAt": start, "States": processor_states}}}}


ECHO = {"Echo": {"Type": "Pass", "End": True}}
FAIL_ODD = {"Odd?": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "Fail"},
                                                   {"Variable": "$.n", "NumericEquals": 3, "Next": "Fail"}],
                     "Default": "Done"},
            "Fail": {"Type": "Fail", "Error": "Odd", "Cause": "an odd item"},
            "Done": {"Type": "Pass", "End": True}}


async def execute(service: StepFunctionsService, definition: dict, input: Any = None,
                  timeout: float = 30) -> tuple[dict, list[dict]]:
    name = f"m{uuid.uuid4().hex[:8]}"
    machine = (await service.create_state_machine(name=name, definition=json.dumps(definition),
                                                  roleArn=ROLE))["stateMachineArn"]
    started = await service.start_execution(stateMachineArn=machine, input=json.dumps(input or {}))
    await asyncio.wait_for(service.wait_for_execution(started["executionArn"]), timeout)
    described = await service.describe_execution(executionArn=started["executionArn"])
    return described, await service.full_history(started["executionArn"])


def types(history: list[dict]) -> list[str]:
    return [event["type"] for event in history]


def map_run_arn(history: list[dict]) -> str:
    return next(e for e in history if e["type"] == "MapRunStarted")["mapRunStartedEventDetails"]["mapRunArn"]


async def child_executions(service: StepFunctionsService, run: str, status: str | None = None) -> list[dict]:
    listed = await service.list_executions(mapRunArn=run, statusFilter=status, maxResults=1000)
    return listed["executions"]


def csv_reader(bucket: str, key: str, **config: Any) -> dict:
    return {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": bucket, "Key": key},
            "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", **config}}


async def test_a_csv_in_s3_runs_a_standard_child_per_row(service: StepFunctionsService, bucket: str, put) -> None:
    put("rows.csv", "id,name\n1,ann\n2,bob\n3,cy\n")
    definition = distributed(ECHO, ItemReader=csv_reader(bucket, "rows.csv"), MaxConcurrency=2,
                             ItemSelector={"row.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index",
                                           "tag.$": "$.tag"})
    described, history = await execute(service, definition, {"tag": "t"})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"row": {"id": "1", "name": "ann"}, "index": 0, "tag": "t"},
                                               {"row": {"id": "2", "name": "bob"}, "index": 1, "tag": "t"},
                                               {"row": {"id": "3", "name": "cy"}, "index": 2, "tag": "t"}]
    assert types(history) == ["ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapRunStarted",
                              "MapRunSucceeded", "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    # items read by an ItemReader are not counted when the Map state starts: AWS records length 0 (LocalStack's
    # AWS-validated snapshots of test_map_item_reader_base_csv_headers_first_line, _base_json, _list_objects_v2)
    assert history[2]["mapStateStartedEventDetails"] == {"length": 0}
    run = map_run_arn(history)
    assert run.startswith(f"{PREFIX}:mapRun:{described['stateMachineArn'].split(':')[-1]}/Each:")
    children = await child_executions(service, run)
    assert len(children) == 3 and {c["status"] for c in children} == {"SUCCEEDED"}
    child = await service.describe_execution(executionArn=children[0]["executionArn"])
    assert child["mapRunArn"] == run
    assert child["executionArn"].startswith(f"{PREFIX}:execution:{described['stateMachineArn'].split(':')[-1]}/Each:")
    assert types(await service.full_history(child["executionArn"]))[-1] == "ExecutionSucceeded"
    machine = await service.describe_state_machine_for_execution(executionArn=child["executionArn"])
    assert (machine["mapRunArn"], machine["label"]) == (run, "Each")
    assert json.loads(machine["definition"])["StartAt"] == "Echo"
    described_run = await service.describe_map_run(mapRunArn=run)
    assert described_run["status"] == "SUCCEEDED" and described_run["maxConcurrency"] == 2
    assert described_run["itemCounts"]["succeeded"] == described_run["itemCounts"]["total"] == 3
    assert described_run["executionCounts"]["succeeded"] == 3
    [listed] = (await service.list_map_runs(executionArn=described["executionArn"]))["mapRuns"]
    assert listed["mapRunArn"] == run and "stopDate" in listed
    own = await service.list_executions(stateMachineArn=described["stateMachineArn"])
    assert [e["executionArn"] for e in own["executions"]] == [described["executionArn"]]


def parquet(rows: list[dict]) -> bytes:
    sink = io.BytesIO()
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), sink)
    return sink.getvalue()


@pytest.mark.parametrize(("key", "body", "config", "expected"), [
    pytest.param("a.json", json.dumps([{"n": 1}, {"n": 2}]), {"InputType": "JSON"}, [{"n": 1}, {"n": 2}], id="json"),
    pytest.param("p.json", json.dumps({"data": {"rows": [{"n": 1}]}}),
                 {"InputType": "JSON", "ItemsPointer": "/data/rows"}, [{"n": 1}], id="json-items-pointer"),
    pytest.param("a.jsonl", '{"n": 1}\n{"n": 2}\n{"n": 3}\n', {"InputType": "JSONL", "MaxItems": 2},
                 [{"n": 1}, {"n": 2}], id="jsonl-max-items"),
    pytest.param("a.tsv", "1\tx\n2\ty\n", {"InputType": "CSV", "CSVHeaderLocation": "GIVEN",
                                            "CSVHeaders": ["n", "c"], "CSVDelimiter": "TAB"},
                 [{"n": "1", "c": "x"}, {"n": "2", "c": "y"}], id="csv-given-headers-tab"),
    pytest.param("a.parquet", parquet([{"n": 1}, {"n": 2}]), {"InputType": "PARQUET"}, [{"n": 1}, {"n": 2}],
                 id="parquet"),
])
async def test_each_reader_format_through_an_execution(service: StepFunctionsService, bucket: str, put, key: str,
                                                       body: Any, config: dict, expected: list) -> None:
    put(key, body)
    reader = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": bucket, "Key": key},
              "ReaderConfig": config}
    described, _ = await execute(service, distributed(ECHO, ItemReader=reader))
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == expected


async def test_list_objects_v2_gives_each_object(service: StepFunctionsService, bucket: str, put) -> None:
    for key in ("in/a.txt", "in/b.txt", "other/c.txt"):
        put(key, "x")
    reader = {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": bucket, "Prefix": "in/"}}
    described, _ = await execute(service, distributed(ECHO, ItemReader=reader,
                                                      ItemSelector={"key.$": "$$.Map.Item.Value.Key"}))
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"key": "in/a.txt"}, {"key": "in/b.txt"}]


async def test_manifests_flattened_listings_max_items_path_and_jsonata_readers(service: StepFunctionsService,
                                                                              bucket: str, put) -> None:
    put("inventory/data/0.csv.gz", gzip.compress(b'"source","a.txt","3"\n"source","b.txt","4"\n'))
    put("inventory/manifest.json", json.dumps({
        "sourceBucket": "source", "destinationBucket": f"arn:aws:s3:::{bucket}", "version": "2016-11-30",
        "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size",
        "files": [{"key": "inventory/data/0.csv.gz", "size": 1, "MD5checksum": "x"}]}))
    manifest = {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "MANIFEST"},
                "Parameters": {"Bucket": bucket, "Key": "inventory/manifest.json"}}
    described, _ = await execute(service, distributed(ECHO, ItemReader=manifest))
    assert json.loads(described["output"]) == [{"Bucket": "source", "Key": "a.txt", "Size": "3"},
                                               {"Bucket": "source", "Key": "b.txt", "Size": "4"}]
    put("athena/1.jsonl", '{"n": 1}\n{"n": 2}\n')
    put("athena/q-manifest.csv", f"s3://{bucket}/athena/1.jsonl\n")
    athena = {"Resource": "arn:aws:states:::s3:getObject",
              "ReaderConfig": {"InputType": "JSONL", "ManifestType": "ATHENA_DATA"},
              "Parameters": {"Bucket": bucket, "Key": "athena/q-manifest.csv"}}
    described, _ = await execute(service, distributed(ECHO, ItemReader=athena))
    assert json.loads(described["output"]) == [{"n": 1}, {"n": 2}]
    for n in range(3):
        put(f"parts/{n}.jsonl", f'{{"n": {n}}}\n{{"n": {n + 10}}}\n')
    flattened = {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": bucket, "Prefix": "parts/"},
                 "ReaderConfig": {"InputType": "JSONL", "Transformation": "LOAD_AND_FLATTEN",
                                  "MaxItemsPath": "$.limit"}}
    described, _ = await execute(service, distributed(ECHO, ItemReader=flattened), {"limit": 5})
    assert json.loads(described["output"]) == [{"n": 0}, {"n": 10}, {"n": 1}, {"n": 11}, {"n": 2}]
    jsonata = {"QueryLanguage": "JSONata", "StartAt": "Each", "States": {"Each": {
        "Type": "Map", "End": True, "ItemSelector": "{% {'doubled': $states.context.Map.Item.Value.n * 2} %}",
        "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2",
                       "Arguments": {"Bucket": bucket, "Prefix": "{% $states.input.prefix %}"},
                       "ReaderConfig": {"InputType": "JSONL", "Transformation": "LOAD_AND_FLATTEN",
                                        "MaxItems": "{% $states.input.limit %}"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Echo", "States": ECHO}}}}
    described, _ = await execute(service, jsonata, {"prefix": "parts/", "limit": 3})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"doubled": 0}, {"doubled": 20}, {"doubled": 2}]


async def test_a_writer_config_alone_shapes_the_output(service: StepFunctionsService) -> None:
    definition = distributed({"Pair": {"Type": "Pass", "Parameters": {"pair.$": "States.Array($.n, $.n)"},
                                       "OutputPath": "$.pair", "End": True}}, ItemsPath="$.items",
                             ResultWriter={"WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}})
    described, _ = await execute(service, definition, {"items": [{"n": 1}, {"n": 2}]})
    assert json.loads(described["output"]) == [1, 1, 2, 2]


async def test_items_are_batched(service: StepFunctionsService) -> None:
    definition = distributed(ECHO, ItemsPath="$.items", ItemBatcher={
        "MaxItemsPerBatchPath": "$.size", "BatchInput": {"run.$": "$.run"}})
    described, history = await execute(service, definition, {"items": [1, 2, 3, 4, 5], "size": 2, "run": "r"})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"BatchInput": {"run": "r"}, "Items": [1, 2]},
                                               {"BatchInput": {"run": "r"}, "Items": [3, 4]},
                                               {"BatchInput": {"run": "r"}, "Items": [5]}]
    run = await service.describe_map_run(mapRunArn=map_run_arn(history))
    assert (run["executionCounts"]["total"], run["itemCounts"]["total"], run["itemCounts"]["succeeded"]) == (3, 5, 5)


@pytest.mark.parametrize(("config", "file", "expected"), [
    pytest.param({}, "SUCCEEDED_0.json", None, id="none"),
    pytest.param({"Transformation": "COMPACT", "OutputType": "JSON"}, "SUCCEEDED_0.json", [{"n": 0}, {"n": 2}], id="compact"),
    pytest.param({"Transformation": "FLATTEN", "OutputType": "JSONL"}, "SUCCEEDED_0.jsonl", None, id="flatten-jsonl"),
])
async def test_results_are_written_to_s3(service: StepFunctionsService, bucket: str, s3: Any, config: dict,
                                         file: str, expected: list | None) -> None:
    writer = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": bucket, "Prefix": "out"},
              **({"WriterConfig": config} if config else {})}
    definition = distributed(FAIL_ODD, ItemsPath="$.items", ResultWriter=writer, ToleratedFailureCount=2)
    described, history = await execute(service, definition, {"items": [{"n": i} for i in range(4)]})
    assert described["status"] == "SUCCEEDED", described
    run = map_run_arn(history)
    output = json.loads(described["output"])
    key = f"out/{run.rsplit(':', 1)[1]}/manifest.json"
    assert output == {"MapRunArn": run, "ResultWriterDetails": {"Bucket": bucket, "Key": key}}
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert manifest["MapRunArn"] == run and manifest["DestinationBucket"] == bucket
    assert [f["Key"].rsplit("/", 1)[1] for f in manifest["ResultFiles"]["SUCCEEDED"]] == [file]
    assert len(manifest["ResultFiles"]["FAILED"]) == 1

    def read(name: str) -> list:
        body = s3.get_object(Bucket=bucket, Key=manifest["ResultFiles"][name][0]["Key"])["Body"].read().decode()
        return [json.loads(line) for line in body.splitlines()] if file.endswith("jsonl") else json.loads(body)
    succeeded = read("SUCCEEDED")
    if expected is not None:
        assert succeeded == expected
    elif config.get("Transformation") == "FLATTEN":
        assert succeeded == [{"n": 0}, {"n": 2}]
    else:
        assert [json.loads(entry["Output"]) for entry in succeeded] == [{"n": 0}, {"n": 2}]
        assert {entry["Status"] for entry in succeeded} == {"SUCCEEDED"}
    assert [(entry["Error"], entry["Status"]) for entry in read("FAILED")] == [("Odd", "FAILED"), ("Odd", "FAILED")]


async def test_a_failed_run_writes_its_results_and_the_items_it_never_started(service: StepFunctionsService,
                                                                               bucket: str, s3: Any) -> None:
    writer = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": bucket, "Prefix": "out"}}
    definition = distributed(FAIL_ODD, ItemsPath="$.items", ResultWriter=writer, MaxConcurrency=1)
    described, history = await execute(service, definition, {"items": [{"n": i} for i in range(5)]})
    assert (described["status"], described["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    key = f"out/{map_run_arn(history).rsplit(':', 1)[1]}/manifest.json"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def entries(name: str) -> list[dict]:
        return [entry for file in manifest["ResultFiles"][name]
                for entry in json.loads(s3.get_object(Bucket=bucket, Key=file["Key"])["Body"].read())]
    assert [json.loads(e["Output"]) for e in entries("SUCCEEDED")] == [{"n": 0}]
    assert [e["Status"] for e in entries("FAILED")] == ["FAILED"]
    assert [(json.loads(e["Input"]), e["Status"]) for e in entries("PENDING")] == [
        ({"n": 2}, "PENDING"), ({"n": 3}, "PENDING"), ({"n": 4}, "PENDING")]


@pytest.mark.parametrize(("fields", "status"), [
    pytest.param({"ToleratedFailureCount": 2}, "SUCCEEDED", id="count-tolerated"),
    pytest.param({"ToleratedFailureCount": 1}, "FAILED", id="count-exceeded"),
    pytest.param({"ToleratedFailurePercentage": 50}, "SUCCEEDED", id="percentage-tolerated"),
    pytest.param({}, "FAILED", id="none-tolerated"),
])
async def test_tolerated_failures(service: StepFunctionsService, fields: dict, status: str) -> None:
    definition = distributed(FAIL_ODD, ItemsPath="$.items", MaxConcurrency=1, **fields)
    described, history = await execute(service, definition, {"items": [{"n": i} for i in range(4)]})
    assert described["status"] == status, described
    run = await service.describe_map_run(mapRunArn=map_run_arn(history))
    if status == "FAILED":
        assert described["error"] == "States.ExceedToleratedFailureThreshold"
        assert types(history)[-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]
        assert run["status"] == "FAILED"
    else:
        output = json.loads(described["output"])
        assert [output[0], output[2]] == [{"n": 0}, {"n": 2}]
        assert (output[1]["Status"], output[1]["Error"]) == ("FAILED", "Odd")
        assert (run["itemCounts"]["failed"], run["itemCounts"]["succeeded"]) == (2, 2)


@pytest.mark.parametrize(("key", "body", "config", "fragment"), [
    pytest.param("missing.csv", None, {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                 "The specified key does not exist", id="missing-key"),
    pytest.param("object.json", '{"a": 1}', {"InputType": "JSON"}, "", id="json-not-an-array"),
    pytest.param("bad.csv", 'a,b\n1,"unterminated\n', {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}, "",
                 id="malformed-csv-row"),
    pytest.param("p.json", '{"data": []}', {"InputType": "JSON", "ItemsPointer": "/nothing"}, "",
                 id="items-pointer-matches-nothing"),
])
async def test_bad_items_fail_the_map_run(service: StepFunctionsService, bucket: str, put, key: str, body: str | None,
                                          config: dict, fragment: str) -> None:
    if body is not None:
        put(key, body)
    reader = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": bucket, "Key": key},
              "ReaderConfig": config}
    described, history = await execute(service, distributed(ECHO, ItemReader=reader))
    assert (described["status"], described["error"]) == ("FAILED", "States.ItemReaderFailed"), described
    assert fragment in described["cause"]
    assert types(history)[-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]
    assert (await service.describe_map_run(mapRunArn=map_run_arn(history)))["status"] == "FAILED"


async def test_a_missing_bucket_and_a_batch_over_the_limit_fail_the_map_run(service: StepFunctionsService) -> None:
    unreadable = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k"},
                  "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["a", "a"]}}
    described, history = await execute(service, distributed(ECHO, ItemReader=unreadable))
    assert (described["status"], described["error"]) == ("FAILED", "States.ItemReaderFailed"), described
    assert (await service.describe_map_run(mapRunArn=map_run_arn(history)))["status"] == "FAILED"
    reader = {"Resource": "arn:aws:states:::s3:getObject",
              "Parameters": {"Bucket": f"none-{uuid.uuid4().hex[:8]}", "Key": "k.json"},
              "ReaderConfig": {"InputType": "JSON"}}
    described, history = await execute(service, distributed(ECHO, ItemReader=reader))
    assert (described["status"], described["error"]) == ("FAILED", "States.ItemReaderFailed"), described
    assert (await service.describe_map_run(mapRunArn=map_run_arn(history)))["status"] == "FAILED"
    definition = distributed(ECHO, ItemsPath="$.items", ItemBatcher={"MaxInputBytesPerBatch": 100})
    described, _ = await execute(service, definition, {"items": ["x" * 200]})
    assert (described["status"], described["error"]) == ("FAILED", "States.ItemReaderFailed"), described


async def test_a_batch_size_or_max_items_that_is_not_an_integer_fails_the_state_before_its_run(
        service: StepFunctionsService) -> None:
    definition = distributed(ECHO, ItemsPath="$.items", ItemBatcher={"MaxItemsPerBatchPath": "$.size"})
    described, history = await execute(service, definition, {"items": [1], "size": 0})
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime"), described
    assert 'The MaxItemsPerBatchPath field refers to value "0" which is not a valid positive integer' in \
        described["cause"]
    assert "MapRunStarted" not in types(history)
    reader = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k.json"},
              "ReaderConfig": {"InputType": "JSON", "MaxItemsPath": "$.limit"}}
    described, history = await execute(service, distributed(ECHO, ItemReader=reader), {"limit": 1.5})
    assert (described["status"], described["cause"].split(". ", 1)[1]) == (
        "FAILED", 'The MaxItemsPath field refers to value "1.5" which is not a valid integer: $.limit'), described
    assert "MapRunStarted" not in types(history)


async def test_results_over_the_payload_limit_fail_without_a_writer(service: StepFunctionsService) -> None:
    definition = distributed(ECHO, ItemsPath="$.items", ItemSelector={"text.$": "$.big"})
    described, history = await execute(service, definition, {"items": [1, 2, 3], "big": "x" * 90_000})
    assert (described["status"], described["error"]) == ("FAILED", "States.DataLimitExceeded"), described
    assert (await service.describe_map_run(mapRunArn=map_run_arn(history)))["status"] == "FAILED"


async def test_express_children(service: StepFunctionsService) -> None:
    definition = distributed({"Double": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($, $)"},
                                         "End": True}}, "EXPRESS", ItemsPath="$.items")
    described, history = await execute(service, definition, {"items": [1, 2, 3]})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"n": 2}, {"n": 4}, {"n": 6}]
    run = await service.describe_map_run(mapRunArn=map_run_arn(history))
    assert (run["status"], run["executionCounts"]["succeeded"], run["itemCounts"]["total"]) == ("SUCCEEDED", 3, 3)


async def test_an_express_parent_runs_its_children_in_memory(service: StepFunctionsService) -> None:
    definition = distributed(ECHO, ItemsPath="$.items")
    machine = (await service.create_state_machine(name="quick", definition=json.dumps(definition), roleArn=ROLE,
                                                  type="EXPRESS"))["stateMachineArn"]
    done = await service.start_sync_execution(stateMachineArn=machine, input=json.dumps({"items": [1, 2]}))
    assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", [1, 2])


SLOW = {"Nap": {"Type": "Wait", "Seconds": 4, "End": True}}


async def wait_until(condition: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await condition()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


@pytest.mark.parametrize("time_scale", [0.05])
async def test_update_map_run_applies_to_a_running_run(service: StepFunctionsService) -> None:
    definition = distributed(SLOW, ItemsPath="$.items", MaxConcurrency=1)
    machine = (await service.create_state_machine(name="slow", definition=json.dumps(definition),
                                                  roleArn=ROLE))["stateMachineArn"]
    execution = (await service.start_execution(stateMachineArn=machine,
                                               input=json.dumps({"items": list(range(6))})))["executionArn"]

    async def run_arn() -> str | None:
        runs = (await service.list_map_runs(executionArn=execution))["mapRuns"]
        return runs[0]["mapRunArn"] if runs else None
    run = await wait_until(run_arn)
    await wait_until(lambda: child_executions(service, run, "RUNNING"))
    described = await service.describe_map_run(mapRunArn=run)
    assert described["executionCounts"]["running"] == 1 and described["itemCounts"]["pending"] == 5
    await service.update_map_run(mapRunArn=run, maxConcurrency=6)

    async def several_running() -> bool:
        return len(await child_executions(service, run, "RUNNING")) > 1
    await wait_until(several_running)
    assert (await service.describe_map_run(mapRunArn=run))["maxConcurrency"] == 6
    await asyncio.wait_for(service.wait_for_execution(execution), 30)
    assert (await service.describe_execution(executionArn=execution))["status"] == "SUCCEEDED"


@pytest.mark.parametrize("time_scale", [0.05])
async def test_stopping_the_parent_stops_its_children(service: StepFunctionsService) -> None:
    definition = distributed({"Nap": {"Type": "Wait", "Seconds": 600, "End": True}}, ItemsPath="$.items")
    machine = (await service.create_state_machine(name="sleepy", definition=json.dumps(definition),
                                                  roleArn=ROLE))["stateMachineArn"]
    execution = (await service.start_execution(stateMachineArn=machine,
                                               input=json.dumps({"items": [1, 2, 3]})))["executionArn"]

    async def three_running() -> list[dict] | None:
        runs = (await service.list_map_runs(executionArn=execution))["mapRuns"]
        if not runs:
            return None
        children = await child_executions(service, runs[0]["mapRunArn"], "RUNNING")
        return children if len(children) == 3 else None
    children = await wait_until(three_running)
    await service.stop_execution(executionArn=execution)

    async def all_aborted() -> bool:
        statuses = [(await service.describe_execution(executionArn=c["executionArn"]))["status"] for c in children]
        return set(statuses) == {"ABORTED"}
    await wait_until(all_aborted)
    run = (await service.list_map_runs(executionArn=execution))["mapRuns"][0]["mapRunArn"]
    assert (await service.describe_map_run(mapRunArn=run))["status"] == "ABORTED"


FAIL_ODD_ONCE = {"Check": {  # an odd item fails until its execution is redriven (redrive reruns this state)
    "Type": "Pass", "QueryLanguage": "JSONata", "End": True,
    "Output": "{% ($states.context.Execution.RedriveCount = 0 and $states.input.n % 2 = 1) ? "
              "$error('an odd item') : $states.input %}"}}


async def test_redriving_the_parent_redrives_only_the_failed_children(service: StepFunctionsService) -> None:
    definition = distributed(FAIL_ODD_ONCE, ItemsPath="$.items")
    described, history = await execute(service, definition, {"items": [{"n": i} for i in range(4)]})
    assert (described["status"], described["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    run = map_run_arn(history)
    before = {c["executionArn"]: c["status"] for c in await child_executions(service, run)}
    await service.redrive_execution(executionArn=described["executionArn"])
    await asyncio.wait_for(service.wait_for_execution(described["executionArn"]), 30)
    redriven = await service.describe_execution(executionArn=described["executionArn"])
    assert redriven["status"] == "SUCCEEDED", redriven
    assert json.loads(redriven["output"]) == [{"n": i} for i in range(4)]
    assert sorted(before.values()) == ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED"]
    for arn, status in before.items():
        child = await service.describe_execution(executionArn=arn)
        assert (child["status"], child["redriveCount"]) == ("SUCCEEDED", 0 if status == "SUCCEEDED" else 1)
    kinds = types(await service.full_history(described["executionArn"]))
    assert kinds.count("MapRunStarted") == 1 and kinds.count("MapRunRedriven") == 1
    assert kinds[-4:] == ["MapRunSucceeded", "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    described_run = await service.describe_map_run(mapRunArn=run)
    assert (described_run["status"], described_run["redriveCount"]) == ("SUCCEEDED", 1)
    assert "redriveDate" in described_run


@pytest.mark.parametrize("time_scale", [0.05])
async def test_a_map_run_in_a_failed_branch_is_aborted_with_its_children(service: StepFunctionsService) -> None:
    sleepy = distributed({"Nap": {"Type": "Wait", "Seconds": 600, "End": True}}, ItemsPath="$.items")
    definition = {"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": True, "Branches": [
        sleepy,
        {"StartAt": "Later", "States": {"Later": {"Type": "Wait", "Seconds": 20, "Next": "Broken"},
                                        "Broken": {"Type": "Fail", "Error": "Broken"}}}]}}}
    described, history = await execute(service, definition, {"items": [1, 2]})
    assert (described["status"], described["error"]) == ("FAILED", "Broken")
    kinds = types(history)
    assert kinds.index("MapRunStarted") < kinds.index("MapRunAborted") < kinds.index("ParallelStateFailed")
    run = map_run_arn(history)

    async def aborted() -> bool:
        return {c["status"] for c in await child_executions(service, run)} == {"ABORTED"}
    await wait_until(aborted)
    assert (await service.describe_map_run(mapRunArn=run))["status"] == "ABORTED"


@pytest.mark.parametrize("time_scale", [0.05])
async def test_update_map_run_tolerates_failures_of_a_running_run(service: StepFunctionsService) -> None:
    slow_or_failing = {"Which?": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1,
                                                                 "Next": "Broken"}], "Default": "Nap"},
                       "Broken": {"Type": "Fail", "Error": "Broken"},
                       "Nap": {"Type": "Wait", "Seconds": 40, "End": True}}
    definition = distributed(slow_or_failing, ItemsPath="$.items", MaxConcurrency=1)
    machine = (await service.create_state_machine(name="tolerant", definition=json.dumps(definition),
                                                  roleArn=ROLE))["stateMachineArn"]
    execution = (await service.start_execution(stateMachineArn=machine,
                                               input=json.dumps({"items": [{"n": 0}, {"n": 1}]})))["executionArn"]

    async def run_arn() -> str | None:
        runs = (await service.list_map_runs(executionArn=execution))["mapRuns"]
        return runs[0]["mapRunArn"] if runs else None
    run = await wait_until(run_arn)
    await service.update_map_run(mapRunArn=run, toleratedFailureCount=1)  # while the first child naps
    await asyncio.wait_for(service.wait_for_execution(execution), 30)
    described = await service.describe_execution(executionArn=execution)
    assert described["status"] == "SUCCEEDED", described
    counts = (await service.describe_map_run(mapRunArn=run))["executionCounts"]
    assert (counts["succeeded"], counts["failed"]) == (1, 1)
