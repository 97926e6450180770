"""`make bench`: the in-process engine on ../shared/bench's workloads, beside the interpreter floor.

Prints a table and writes build/bench.json as {"<workload>": {"transitions_per_s": N, "floor_ratio": R}, ...}
where floor_ratio = the floor's step rate / the engine's state-transition rate, both measured in this run
(floor.py's shallow-copy + call + json.dumps loop, the least a Python interpreter can do per transition).
Transitions are counted as AWS bills them: states entered (Map iterations and Parallel branches included).
`inline_map` (bench/inline_map.py) is an inline Map over 1,000 and 2,000 items calling a local function, durable
and in memory: its seconds and the two ratios issue 14 sets targets for.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import inline_map
from stepline.runtime.integrations.mock_config import MockConfig
from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings
from stepline.service.workflow import Workflow

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = next(path for path in (Path(os.environ.get("STEPLINE_SHARED_BENCH", ROOT.parent / "shared" / "bench")),
                                       Path("/work/shared/bench")) if path.exists())
DURABLE = ["pass_chain_100"]  # also measured on the durable runtime, as "<name>_durable"
WORKLOADS = ["pass1", "pass_chain_100", "pass_chain_100_jsonata", "choice_loop_1000", "map_1000", "map_1000_c10",
             "parallel_10", "retry_catch", "wait_short", "inline_map"]
JSONATA_SUFFIX = "_jsonata"  # the JSONata twin of a workload of Pass states (jsonata_twin)


def jsonata_twin(definition: dict) -> dict:
    """The same workflow in JSONata: each Pass state's Parameters placed at its ResultPath becomes one Output
    expression that merges the same object into the input (pass_chain_100: the same output, state by state)."""
    states = {}
    for name, state in definition["States"].items():
        if state["Type"] != "Pass" or set(state) - {"Type", "Parameters", "ResultPath", "Next", "End"}:
            raise SystemExit(f"{name}: only Pass states with Parameters and ResultPath have a JSONata twin here")
        fields = ", ".join(f"'{key.removesuffix('.$')}': "
                           + (f"$states.input{value[1:]}" if key.endswith(".$") else json.dumps(value))
                           for key, value in state["Parameters"].items())
        target = state["ResultPath"].removeprefix("$.")
        twin = {"Type": "Pass", "Output": f"{{% $merge([$states.input, {{'{target}': {{{fields}}}}}]) %}}"}
        states[name] = twin | {key: state[key] for key in ("Next", "End") if key in state}
    return {"QueryLanguage": "JSONata", "StartAt": definition["StartAt"], "States": states}


def read_workload(name: str) -> tuple[str, object]:
    """A workload's definition (text) and input; "<name>_jsonata" is the JSONata twin of <name>."""
    directory = SHARED_BENCH / "workloads"
    base = name.removesuffix(JSONATA_SUFFIX)
    definition = (directory / f"{base}.asl.json").read_text()
    if name != base:
        definition = json.dumps(jsonata_twin(json.loads(definition)))
    return definition, json.loads((directory / f"{base}.input.json").read_text())


def measure(name: str, seconds: float) -> dict:
    """Run the workload back to back for about `seconds`; time only the executions."""
    directory = SHARED_BENCH / "workloads"
    definition, input_value = read_workload(name)
    options: dict = {}
    run_options: dict = {"time_scale": 0}  # virtual time: Waits and Retry intervals cost no real time
    if name == "retry_catch":
        options = {"name": "bench-retry_catch", "mock_config": MockConfig.load(directory / "mock_config.json")}
        run_options["test_case"] = "AlwaysFail"
    workflow = Workflow(definition, **options)

    async def loop() -> tuple[int, int, float]:
        executions = transitions = 0
        started = time.perf_counter()
        while True:
            result = await workflow.run_async(input_value, **run_options)
            if result.status not in ("SUCCEEDED",):
                raise SystemExit(f"{name}: execution ended {result.status}: {result.error} {result.cause}")
            executions += 1
            transitions += sum(1 for event in result.history if event["type"].endswith("StateEntered"))
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                return executions, transitions, elapsed

    executions, transitions, elapsed = asyncio.run(loop())
    return {"executions_per_s": round(executions / elapsed, 1), "transitions_per_s": round(transitions / elapsed)}


def measure_durable(name: str, seconds: float) -> dict:
    """The same workload on the durable runtime (a SQLite store in a temporary folder, virtual time): executions
    started together in rounds of 200, as a busy server receives them; every transition committed."""
    directory = SHARED_BENCH / "workloads"
    definition = (directory / f"{name}.asl.json").read_text()
    input_text = (directory / f"{name}.input.json").read_text()

    async def loop() -> tuple[int, int, float]:
        with tempfile.TemporaryDirectory() as folder:
            service = StepFunctionsService(Settings(db=f"{folder}/bench.db", time_scale=0))
            await service.start()
            machine = await service.create_state_machine(name=name, definition=definition,
                                                         roleArn="arn:aws:iam::123456789012:role/bench")
            executions = transitions = 0
            started = time.perf_counter()
            try:
                while time.perf_counter() - started < seconds:
                    runs = await asyncio.gather(*[service.start_execution(stateMachineArn=machine["stateMachineArn"],
                                                                          input=input_text) for _ in range(200)])
                    await asyncio.gather(*[service.runtime.wait(run["executionArn"]) for run in runs])
                    executions += len(runs)
                elapsed = time.perf_counter() - started
                for run in runs:  # every execution of a round enters the same number of states
                    history = await service.get_execution_history(executionArn=run["executionArn"], maxResults=1000)
                    assert (await service.describe_execution(executionArn=run["executionArn"]))["status"] == "SUCCEEDED"
                per_execution = sum(1 for e in history["events"] if e["type"].endswith("StateEntered"))
                transitions = executions * per_execution
            finally:
                await service.close()
        return executions, transitions, elapsed

    executions, transitions, elapsed = asyncio.run(loop())
    return {"executions_per_s": round(executions / elapsed, 1), "transitions_per_s": round(transitions / elapsed)}


def floor_rate(seconds: float) -> int:
    sys.path.insert(0, str(SHARED_BENCH))
    import floor  # ../shared/bench/floor.py, standard library only

    return floor.interpreter_floor(seconds)["shallow_copy_call_dumps_per_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per workload (default 2)")
    parser.add_argument("--workloads", nargs="*", default=WORKLOADS)
    parser.add_argument("--report", default=str(ROOT / "build" / "bench.json"))
    args = parser.parse_args()
    gc.set_threshold(50_000, 20, 100)  # as `stepline serve` runs (cli/main.py): fewer collections of long-lived data
    floor = floor_rate(args.seconds)
    report = {}
    print(f"interpreter floor (floor.py shallow copy + call + dumps): {floor:,} steps/s")
    print(f"{'workload':<22} {'executions/s':>13} {'transitions/s':>14} {'floor_ratio':>12}")
    runs = [(name, measure) for name in args.workloads if name != "inline_map"] + [(f"{name}_durable", measure_durable)
                                                           for name in DURABLE if name in args.workloads]
    for label, run in runs:
        figures = run(label.removesuffix("_durable"), args.seconds)
        figures["floor_ratio"] = round(floor / figures["transitions_per_s"], 2)
        report[label] = figures
        print(f"{label:<22} {figures['executions_per_s']:>13,} {figures['transitions_per_s']:>14,} "
              f"{figures['floor_ratio']:>12}")
    if "inline_map" in args.workloads:
        report["inline_map"] = figures = inline_map.measure(inline_map.SIZES, runs=3)
        print(f"inline_map (seconds, best of 3): {figures}")
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
