"""`make bench-maps`: distributed Maps at scale, the figures issue 14 asks for, each measured in this run (the
inline Map's are bench/inline_map.py's).

1. A distributed Map over a CSV of --rows rows in S3 (moto's server on 127.0.0.1), batched into --children EXPRESS
   children: items/s and child executions/s, beside plain StartExecution's rate in the same run; peak RSS.
2. --standard STANDARD children with MaxConcurrency as many: the time, and peak RSS.

Prints a table and writes build/bench-maps.json. The issue's full sizes are --rows 1000000 --children 10000
--standard 10000 (minutes, and a few GB of moto); the defaults are a tenth of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # moto's server, as the tests start it

from aws_services import aws_client, aws_environment  # noqa: E402

from stepline.service.app import StepFunctionsService  # noqa: E402
from stepline.service.settings import Settings  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/bench"


def distributed(reader: dict | None, batch: int | None, execution_type: str, **fields: Any) -> dict:
    state: dict[str, Any] = {
        "Type": "Map", "End": True, "ResultSelector": {"done": True}, **fields,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
                          "StartAt": "Count", "States": {"Count": {"Type": "Pass", "End": True,
                                                                   "Parameters": {"ok": True}}}}}
    if reader is not None:
        state["ItemReader"] = reader
    if batch is not None:
        state["ItemBatcher"] = {"MaxItemsPerBatch": batch}
    return {"StartAt": "Each", "States": {"Each": state}}


async def run(service: StepFunctionsService, definition: dict, input: Any, timeout: float = 3600) -> float:
    """Seconds from StartExecution to the end."""
    name = f"b{uuid.uuid4().hex[:8]}"
    machine = (await service.create_state_machine(name=name, definition=json.dumps(definition),
                                                  roleArn=ROLE))["stateMachineArn"]
    began = time.perf_counter()
    arn = (await service.start_execution(stateMachineArn=machine, input=json.dumps(input)))["executionArn"]
    await asyncio.wait_for(service.wait_for_execution(arn), timeout)
    seconds = time.perf_counter() - began
    described = await service.describe_execution(executionArn=arn)
    if described["status"] != "SUCCEEDED":
        raise SystemExit(f"{name} {described['status']}: {described.get('error')} {described.get('cause')}")
    return seconds


async def service_on(directory: Path) -> StepFunctionsService:
    service = StepFunctionsService(Settings(db=str(directory / f"{uuid.uuid4().hex}.db"), poll_seconds=0.2))
    await service.start()
    return service


async def plain_starts(service: StepFunctionsService, count: int) -> float:
    """StartExecution's rate: executions started and run to their end per second (one Pass state)."""
    machine = (await service.create_state_machine(name=f"p{uuid.uuid4().hex[:8]}", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})))["stateMachineArn"]
    began = time.perf_counter()
    arns = [(await service.start_execution(stateMachineArn=machine))["executionArn"] for _ in range(count)]
    for arn in arns:
        await service.wait_for_execution(arn)
    return count / (time.perf_counter() - began)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(rows: int, children: int, standard: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        # 1. a distributed Map over a CSV in S3, in EXPRESS children
        os.environ.update(aws_environment())
        s3 = aws_client("s3")
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        body = "id,name,value\n" + "".join(f"{n},row-{n},{n * 7 % 1000}\n" for n in range(rows))
        s3.put_object(Bucket=bucket, Key="rows.csv", Body=body.encode())
        del body
        reader = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": bucket, "Key": "rows.csv"},
                  "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}}
        service = await service_on(directory)
        try:
            figures["plain_starts_per_s"] = await plain_starts(service, 1000)
            seconds = await run(service, distributed(reader, max(1, rows // children), "EXPRESS"), {})
            figures["csv_rows"], figures["express_children"] = rows, children
            figures["csv_items_per_s"] = rows / seconds
            figures["express_children_per_s"] = children / seconds
            figures["children_over_plain_starts"] = figures["express_children_per_s"] / figures["plain_starts_per_s"]
            figures["peak_rss_after_csv_mib"] = peak_rss_mib()
            # 2. STANDARD children, all at once
            seconds = await run(service, distributed(None, None, "STANDARD", ItemsPath="$.items",
                                                     MaxConcurrency=standard), {"items": list(range(standard))})
            figures["standard_children"], figures["standard_children_s"] = standard, seconds
            figures["standard_children_per_s"] = standard / seconds
            figures["peak_rss_mib"] = peak_rss_mib()
        finally:
            await service.close()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--children", type=int, default=1_000)
    parser.add_argument("--standard", type=int, default=1_000)
    arguments = parser.parse_args()
    result = asyncio.run(main(arguments.rows, arguments.children, arguments.standard))
    for key, value in result.items():
        print(f"{key:40} {value:12.2f}" if isinstance(value, float) else f"{key:40} {value:12}")
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "bench-maps.json").write_text(json.dumps(result, indent=2))
