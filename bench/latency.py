"""The latency of one execution at a time on the durable runtime (a SQLite store), in process:

    python bench/latency.py WORKLOAD COUNT

StartExecution, waiting for the end (runtime.wait), then DescribeExecution, one execution after the other; prints
the p50 of each step over the runs after the first fifth (a warm-up). Each step's time is mostly its round trips to
the store, so this shows what one store call costs when nothing else runs.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

WORKLOADS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "workloads"
ROLE = "arn:aws:iam::123456789012:role/bench"


async def measure(name: str, count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        service = StepFunctionsService(Settings(db=str(Path(folder) / "store.db"),
                                                mock_config=str(WORKLOADS / "mock_config.json")))
        await service.start()
        machine = await service.create_state_machine(name="bench", roleArn=ROLE,
                                                     definition=(WORKLOADS / f"{name}.asl.json").read_text())
        text = (WORKLOADS / f"{name}.input.json").read_text()
        times = []
        for _ in range(count):
            began = time.perf_counter()
            started = await service.start_execution(stateMachineArn=machine["stateMachineArn"], input=text)
            accepted = time.perf_counter()
            await service.runtime.wait(started["executionArn"])
            ended = time.perf_counter()
            await service.describe_execution(executionArn=started["executionArn"])
            times.append((accepted - began, ended - accepted, time.perf_counter() - ended))
        await service.close()
    times = times[count // 5:]
    for index, step in enumerate(("start", "wait", "describe")):
        ordered = sorted(t[index] for t in times)
        print(f"{step:9} p50 {ordered[len(ordered) // 2] * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", help="a workload of ../shared/bench/workloads, e.g. pass_chain_100")
    parser.add_argument("count", type=int, help="executions, one after the other")
    args = parser.parse_args()
    asyncio.run(measure(args.workload, args.count))


if __name__ == "__main__":
    main()
