"""Every bundled example runs with the status examples/inputs.json expects: in process, and through run_all.py."""

from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import check_history

from stepline.service.workflow import Workflow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SPECS: dict[str, dict[str, Any]] = json.loads((EXAMPLES / "inputs.json").read_text())


def _options(args: list[str]) -> dict[str, str]:
    """The `stepline run` options an example passes, as {"--mock-config": "file", ...}."""
    assert len(args) % 2 == 0, args
    options = dict(zip(args[::2], args[1::2]))
    assert set(options) <= {"--mock-config", "--test-case", "--functions"}, options
    return options


def _fresh_functions(module_name: str) -> dict[str, Any]:
    """The module's public functions, from a fresh import (examples keep state such as attempt counters)."""
    spec = importlib.util.spec_from_file_location(f"example_{module_name}", EXAMPLES / f"{module_name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: value for name, value in vars(module).items()
            if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_")}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_example_in_process(name: str) -> None:
    spec = SPECS[name]
    options = _options(spec.get("args", []))
    functions = _fresh_functions(options["--functions"]) if "--functions" in options else None
    mock = EXAMPLES / options["--mock-config"] if "--mock-config" in options else None
    workflow = Workflow.from_file(EXAMPLES / f"{spec.get('definition', name)}.asl.json", functions=functions,
                                  mock_config=mock)
    result = workflow.run(spec["input"], time_scale=0, test_case=options.get("--test-case"))
    assert result.status == spec.get("expect", "SUCCEEDED"), (result.error, result.cause)
    check_history(result.history)
    if result.status == "SUCCEEDED":
        assert result.output_text == json.dumps(result.output, separators=(",", ":"))


def test_examples_cover_every_definition() -> None:
    used = {spec.get("definition", name) for name, spec in SPECS.items()} | {"transfer_data_records_aws"}
    assert used == {path.name.removesuffix(".asl.json") for path in EXAMPLES.glob("*.asl.json")}


def test_run_all_script() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / "run_all.py")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "!!" not in done.stdout and "Traceback" not in done.stdout
    assert done.stdout.count("Status: SUCCEEDED") == sum(spec.get("expect", "SUCCEEDED") == "SUCCEEDED"
                                                         for spec in SPECS.values())


def test_transfer_data_records_against_dynamodb_and_sqs() -> None:
    """The sample for real (README: "Transfer data records, for real"), on moto's DynamoDB and SQS."""
    import os
    import uuid

    from aws_services import aws_client, aws_environment

    table, queue = f"records-{uuid.uuid4().hex[:8]}", f"records-{uuid.uuid4().hex[:8]}"
    aws_client("dynamodb").create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                        BillingMode="PAY_PER_REQUEST")
    queue_url = aws_client("sqs").create_queue(QueueName=queue)["QueueUrl"]
    document = {"table": table, "queue": queue_url, "seed": ["1", "2", "3", "4", "5"],
                "page": {"LastEvaluatedKey": None}}
    done = subprocess.run([str(Path(sys.executable).with_name("stepline")), "run",
                           "transfer_data_records_aws.asl.json", "--input", json.dumps(document), "--json"],
                          cwd=EXAMPLES, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **aws_environment()})
    assert done.returncode == 0, done.stdout + done.stderr
    bodies = []
    while True:
        received = aws_client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        if not received.get("Messages"):
            break
        bodies += [message["Body"] for message in received["Messages"]]
    assert sorted(bodies) == [f"Hello from record {n}" for n in range(1, 6)]
