"""Instructions per run, for comparing two commits on a machine whose timings are noisy (a VM's neighbours):

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python bench/instructions.py WORKLOAD RUNS [--durable]

callgrind counts instructions, not seconds, so a count repeats whatever else the machine does. The count of RUNS
runs minus the count of 0 runs is what the runs cost (imports, start-up and the warm-up cancel out). In process by
default (the engine, as `make bench` measures it); with --durable, rounds of 100 executions started together on a
SQLite store (every step committed), as bench/postgres.py runs them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings
from stepline.service.workflow import Workflow

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = next(path for path in (Path(os.environ.get("STEPLINE_SHARED_BENCH", ROOT.parent / "shared" / "bench")),
                                    Path("/work/shared/bench")) if path.exists()) / "workloads"
ROLE = "arn:aws:iam::123456789012:role/bench"
ROUND = 100  # executions started together per durable run


def in_process(name: str, runs: int) -> None:
    workflow = Workflow((WORKLOADS / f"{name}.asl.json").read_text(), mock_config=str(WORKLOADS / "mock_config.json"))
    value = json.loads((WORKLOADS / f"{name}.input.json").read_text())
    workflow.run(value, time_scale=0)  # warm-up
    for _ in range(runs):
        workflow.run(value, time_scale=0)


async def durable(name: str, runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        service = StepFunctionsService(Settings(db=str(Path(folder) / "store.db"), time_scale=0,
                                                mock_config=str(WORKLOADS / "mock_config.json")))
        await service.start()
        machine = (await service.create_state_machine(name="bench", roleArn=ROLE,
                                                      definition=(WORKLOADS / f"{name}.asl.json").read_text()))
        text = (WORKLOADS / f"{name}.input.json").read_text()
        for _ in range(runs + 1):  # a warm-up round first
            started = [await service.start_execution(stateMachineArn=machine["stateMachineArn"], input=text)
                       for _ in range(ROUND)]
            for execution in started:
                await service.runtime.wait(execution["executionArn"])
        await service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", help="a workload of ../shared/bench/workloads, e.g. pass_chain_100")
    parser.add_argument("runs", type=int, help="runs (rounds of 100 executions with --durable) after a warm-up")
    parser.add_argument("--durable", action="store_true", help="on the durable runtime (a SQLite store)")
    args = parser.parse_args()
    if args.durable:
        asyncio.run(durable(args.workload, args.runs))
    else:
        in_process(args.workload, args.runs)


if __name__ == "__main__":
    main()
