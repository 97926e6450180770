"""Many executions waiting at once: what they cost, and that they all finish after a restart.

    python bench/waiting.py [--executions 100000] [--db build/waiting.db]

Phase 1 (a process of its own): start N executions of a state machine whose first state waits an hour, until
every one is committed at its Wait; report the process's peak RSS. Phase 2 (a new process, as after a restart):
open the same store on a virtual clock, so the hour passes at once, and run until every execution has succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from stepline.service.app import StepFunctionsService
from stepline.service.settings import Settings

DEFINITION = {"StartAt": "Sleep", "States": {
    "Sleep": {"Type": "Wait", "Seconds": 3600, "Next": "After"},
    "After": {"Type": "Pass", "Result": "woke", "ResultPath": "$.state", "End": True}}}
ROLE = "arn:aws:iam::123456789012:role/bench"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def start_all(db: str, count: int) -> dict:
    service = StepFunctionsService(Settings(db=db))
    await service.start()
    machine = await service.create_state_machine(name="waiting", definition=json.dumps(DEFINITION), roleArn=ROLE)
    started = time.perf_counter()
    for first in range(0, count, 1000):
        await asyncio.gather(*[service.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")
                               for _ in range(min(1000, count - first))])
    while not service.runtime.idle:  # every start applied and committed: each execution is a row at its Wait
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    running = len(await service.store.running_executions())
    await service.close()
    return {"started": count, "waiting": running, "seconds": round(elapsed, 1), "peak_rss_mib": round(peak_rss_mib())}


async def finish_all(db: str) -> dict:
    service = StepFunctionsService(Settings(db=db, time_scale=0))
    started = time.perf_counter()
    await service.start()
    while await service.store.running_executions():
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - started
    succeeded = len(await service.store.list_executions(status="SUCCEEDED"))
    await service.close()
    return {"succeeded": succeeded, "seconds": round(elapsed, 1), "peak_rss_mib": round(peak_rss_mib())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--db", default="build/waiting.db")
    parser.add_argument("--phase", choices=["start", "finish"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    gc.set_threshold(50_000, 20, 100)
    if args.phase == "start":
        print(json.dumps(asyncio.run(start_all(args.db, args.executions))))
        return 0
    if args.phase == "finish":
        print(json.dumps(asyncio.run(finish_all(args.db))))
        return 0
    for suffix in ("", "-wal", "-shm"):
        Path(args.db + suffix).unlink(missing_ok=True)
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    phases = {}
    for phase in ("start", "finish"):
        output = subprocess.run([sys.executable, __file__, "--phase", phase, "--db", args.db,
                                 "--executions", str(args.executions)], check=True, capture_output=True, text=True)
        phases[phase] = json.loads(output.stdout.strip().splitlines()[-1])
        print(f"{phase}: {phases[phase]}", flush=True)
    ok = phases["start"]["waiting"] == args.executions and phases["finish"]["succeeded"] == args.executions
    print("all waited and all finished after the restart" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
