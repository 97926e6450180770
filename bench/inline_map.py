"""An inline Map over N items whose iterations call a local function, durable (SQLite) and in memory (issue 14).

    python bench/inline_map.py [--items 1000 2000] [--runs 3]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python bench/inline_map.py --only durable --items 2000

`make bench` runs it in process (measure); `make bench-api` through `stepline serve --functions inline_map`
(served): a Standard execution on the server's SQLite store beside the same Map as a StartSyncExecution of an
Express state machine (in memory), each timed by the server's own startDate and stopDate.

A Map state over the input's `items` ({"n": i}), MaxConcurrency 0 (every iteration at once, as the definition asks),
each iteration one Lambda Task answered by the Python function `double` (in process). In memory: the engine alone
(service/workflow.py); durable: one execution on a SQLite store in a temporary folder, every step committed. The
targets: 2,000 items take at most 2.2 times as long as 1,000 on the durable store, and at most 3 times as long as in
memory. Each figure is the best of --runs runs. With --only, the runs of one kind only (for callgrind: its count of
instructions is what the machine's load cannot change).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings
from stepline.service.workflow import Workflow

ROLE = "arn:aws:iam::123456789012:role/bench"
DEFINITION = json.dumps({
    "Comment": "bench inline_map: one Lambda Task per item",
    "StartAt": "Fan",
    "States": {"Fan": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.results", "End": True,
                       "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Double",
                                         "States": {"Double": {
                                             "Type": "Task", "End": True,
                                             "Resource": "arn:aws:lambda:us-east-1:123456789012:function:double"}}}}},
})
SIZES = [1000, 2000]
MAX_SIZE_RATIO = 2.2  # 2,000 items against 1,000, durable
MAX_MEMORY_RATIO = 3.0  # durable against in memory, at the largest size


def double(event: Any, context: Any) -> Any:
    return {"n": event["n"] * 2}


FUNCTIONS = {"double": double}  # what `stepline serve --functions inline_map` serves


def map_input(items: int) -> dict:
    return {"items": [{"n": i} for i in range(items)]}


def _check(status: str, output: Any, items: int) -> None:
    if status != "SUCCEEDED" or output["results"] != [{"n": 2 * i} for i in range(items)]:
        raise SystemExit(f"inline_map over {items} items ended {status}")


async def in_memory(items: int) -> float:
    """Seconds for one run on the engine alone."""
    workflow = Workflow(DEFINITION, functions={"double": double})
    value = map_input(items)
    began = time.perf_counter()
    result = await workflow.run_async(value)
    elapsed = time.perf_counter() - began
    _check(result.status, result.output, items)
    return elapsed


async def durable(items: int) -> float:
    """Seconds for one execution on a fresh SQLite store, from StartExecution to its end."""
    with tempfile.TemporaryDirectory() as folder:
        service = StepFunctionsService(Settings(db=f"{folder}/bench.db", time_scale=0))
        service.functions.register("double", double)
        await service.start()
        try:
            machine = await service.create_state_machine(name="inline_map", definition=DEFINITION, roleArn=ROLE)
            text = json.dumps(map_input(items))
            began = time.perf_counter()
            run = await service.start_execution(stateMachineArn=machine["stateMachineArn"], input=text)
            await service.runtime.wait(run["executionArn"])
            elapsed = time.perf_counter() - began
            described = await service.describe_execution(executionArn=run["executionArn"])
            _check(described["status"], json.loads(described.get("output") or "null"), items)
        finally:
            await service.close()
    return elapsed


def measure(sizes: list[int], runs: int, only: str | None = None) -> dict[str, Any]:
    """The best of `runs` seconds per size and kind, and the two ratios the targets name."""
    kinds = {"durable": durable, "memory": in_memory}
    figures: dict[str, Any] = {}
    for size in sizes:
        for kind, run in kinds.items():
            if only in (None, kind):
                figures[f"{kind}_{size}_s"] = round(min(asyncio.run(run(size)) for _ in range(runs)), 3)
    if only is None and len(sizes) >= 2:
        figures.update(_ratios(figures, sizes))
    return figures


def served(sizes: list[int], runs: int, command: Callable[[int, Path], tuple[list[str], dict[str, str]]],
           port: int, log: Path, wait_ready: Callable[..., None], stop: Callable[[subprocess.Popen], None]) -> dict:
    """The best of `runs` seconds per size through `stepline serve` (`command`: its command line and environment
    for a port and a folder), durable and in memory, with the same ratios as measure."""
    import boto3
    from botocore.config import Config

    with tempfile.TemporaryDirectory() as folder:
        arguments, env = command(port, Path(folder))
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent), env.get("PYTHONPATH")]))}
        with open(log, "wb") as out:
            process = subprocess.Popen([*arguments, "--functions", "inline_map"], stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            wait_ready(process, endpoint, log)
            sfn = boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing",
                               config=Config(inject_host_prefix=False, read_timeout=300))
            standard = sfn.create_state_machine(name="inline_map", definition=DEFINITION, roleArn=ROLE)
            express = sfn.create_state_machine(name="inline_map_express", definition=DEFINITION, roleArn=ROLE,
                                               type="EXPRESS")

            def durable_run(size: int) -> float:
                arn = sfn.start_execution(stateMachineArn=standard["stateMachineArn"],
                                          input=json.dumps(map_input(size)))["executionArn"]
                while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                    time.sleep(0.1)
                _check(described["status"], json.loads(described.get("output") or "null"), size)
                return (described["stopDate"] - described["startDate"]).total_seconds()

            def memory_run(size: int) -> float:
                answer = sfn.start_sync_execution(stateMachineArn=express["stateMachineArn"],
                                                  input=json.dumps(map_input(size)))
                _check(answer["status"], json.loads(answer.get("output") or "null"), size)
                return (answer["stopDate"] - answer["startDate"]).total_seconds()

            figures: dict[str, Any] = {}
            for size in sizes:
                figures[f"durable_{size}_s"] = round(min(durable_run(size) for _ in range(runs)), 3)
                figures[f"memory_{size}_s"] = round(min(memory_run(size) for _ in range(runs)), 3)
        finally:
            stop(process)
    return {**figures, **_ratios(figures, sizes)}


def _ratios(figures: dict[str, Any], sizes: list[int]) -> dict[str, Any]:
    small, large = sizes[0], sizes[-1]
    size_ratio = round(figures[f"durable_{large}_s"] / figures[f"durable_{small}_s"], 2)
    memory_ratio = round(figures[f"durable_{large}_s"] / figures[f"memory_{large}_s"], 2)
    return {"size_ratio": size_ratio, "memory_ratio": memory_ratio,
            "targets_met": size_ratio <= MAX_SIZE_RATIO and memory_ratio <= MAX_MEMORY_RATIO}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+", default=SIZES)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["durable", "memory"])
    args = parser.parse_args()
    print(json.dumps(measure(args.items, args.runs, args.only), indent=2))


if __name__ == "__main__":
    main()
