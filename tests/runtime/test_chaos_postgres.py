"""Chaos test: three `stepline serve` workers on one PostgreSQL database run 1,000 executions (Task, Wait, Map,
Parallel) while workers are SIGKILLed at random and restarted, and PostgreSQL itself crashes and restarts once.

Every execution must complete exactly once with the right output and a whole history: contiguous ids, every
state entered and left as often as the definition says, one scheduled task per answered task (a task may run
twice after a crash: at-least-once; its answer is recorded once).

The workers' PostgreSQL is a server of the test's own (initdb in a temporary folder, on a free port), so that
crashing it (an immediate shutdown: no checkpoint, recovery from the WAL on start) and keeping it down for a
moment disturbs no other test. The seed is printed; STEPLINE_CHAOS_SEED=N replays a run's schedule.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from serving import ROLE, StepLine
from support import lambda_task

EXECUTIONS = 1000
WORKERS = 3
CHAOS_SECONDS = 14  # kills happen during the first seconds, while executions start and run
START_SECONDS = 90  # to start every execution: a liveness bound, generous for a loaded machine (the suite runs
#                     beside this test), not a speed target
PREFIX = "arn:aws:states:us-east-1:123456789012"


# name -> (definition, expected output for {"value": n, "nap": 0.05}, states entered, Lambda tasks scheduled)
MACHINES: dict[str, tuple[dict, Any, Counter, int]] = {
    "chain": ({"StartAt": "First", "States": {
        "First": lambda_task("add_one", Next="Pause"),
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Second"},
        "Second": lambda_task("nap_add_one", End=True)}},
        lambda n: {"value": n + 2, "nap": 0.05}, Counter(First=1, Pause=1, Second=1), 2),
    "fan": ({"StartAt": "Both", "States": {
        "Both": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "Quick", "States": {"Quick": lambda_task("add_one", End=True)}},
            {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 1, "Next": "Slow"},
                                          "Slow": lambda_task("nap_add_one", End=True)}}]}}},
        lambda n: [{"value": n + 1, "nap": 0.05}] * 2, Counter(Both=1, Quick=1, Nap=1, Slow=1), 2),
    "items": ({"StartAt": "Spread", "States": {
        "Spread": {"Type": "Pass", "Parameters": {"items.$": "States.ArrayRange(1, 3, 1)", "nap.$": "$.nap"},
                   "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "End": True,
                 "ItemSelector": {"value.$": "$$.Map.Item.Value", "nap.$": "$.nap"},
                 "ItemProcessor": {"StartAt": "Work", "States": {"Work": lambda_task("nap_add_one", End=True)}}}}},
        lambda n: [{"value": i + 1, "nap": 0.05} for i in range(1, 4)], Counter(Spread=1, Each=1, Work=3), 3),
}


class PrivatePostgres:
    """A PostgreSQL server of the test's own, run as the postgres user when the test runs as root."""

    def __init__(self) -> None:
        debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))  # Debian keeps them off PATH
        found = shutil.which("pg_ctl") or (debian[-1] if debian else None)
        assert found, "PostgreSQL's server programs (pg_ctl, initdb) are not installed"
        self.bin = Path(found).parent
        self.folder = Path(tempfile.mkdtemp(prefix="stepline-chaos-pg-"))
        self.user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.user:
            os.chown(self.folder, pwd.getpwnam("postgres").pw_uid, -1)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self.user, str(self.bin / program), *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-o", options, "-l", str(self.folder / "log"), "-w",
                  "start")

    def crash(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        try:
            self.crash()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    yield server
    server.remove()


class Cluster:
    """The three workers; any may be down at a moment, so every call goes to the next live one."""

    def __init__(self, database: str, tmp_path: Path) -> None:
        options = ["--lease-seconds", "2", "--poll-seconds", "0.3"]
        self.lock = threading.Lock()
        self.servers = [StepLine.start(database, functions=["multiworker_functions"],  # type: ignore[arg-type]
                                       options=options, log=tmp_path / f"worker-{i}.log") for i in range(WORKERS)]
        self.turn = 0

    def client(self) -> Any:
        with self.lock:
            self.turn += 1
            return self.servers[self.turn % WORKERS].client(read_timeout=10)

    def kill_and_restart(self, number: int) -> None:
        with self.lock:
            server = self.servers[number]
        server.kill()
        restarted = server.restart()
        with self.lock:
            self.servers[number] = restarted

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_all(cluster: Cluster, pending: list[tuple[str, int]], done: dict[str, tuple[str, int]],
              deadline: float) -> None:
    """StartExecution for each (machine, number), on whichever worker answers; a start whose answer was lost is
    sent again: the same request (idempotent while it runs) or ExecutionAlreadyExists once it ended."""
    while pending and time.monotonic() < deadline:
        machine, number = pending[-1]
        arn = f"{PREFIX}:execution:{machine}:run-{number}"
        sfn = cluster.client()
        try:
            sfn.start_execution(stateMachineArn=f"{PREFIX}:stateMachine:{machine}", name=f"run-{number}",
                                input=json.dumps({"value": number, "nap": 0.05}))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                continue  # a worker whose store connection broke: try another
        except BotoCoreError:  # the worker was killed under the request
            continue
        done[arn] = pending.pop()


def check_history(events: list[dict], machine: str) -> None:
    assert [e["id"] for e in events] == list(range(1, len(events) + 1)), "history ids are not contiguous"
    kinds = Counter(e["type"] for e in events)
    assert kinds["ExecutionStarted"] == 1 and kinds["ExecutionSucceeded"] == 1, kinds
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    entered = Counter(e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e)
    exited = Counter(e["stateExitedEventDetails"]["name"] for e in events if "stateExitedEventDetails" in e)
    expected = MACHINES[machine][2]
    assert entered == expected, f"states entered {dict(entered)}, expected {dict(expected)}"
    assert exited == expected, f"states exited {dict(exited)}, expected {dict(expected)}"
    tasks = MACHINES[machine][3]
    assert [kinds[f"LambdaFunction{k}"] for k in ("Scheduled", "Started", "Succeeded", "Failed")] == [
        tasks, tasks, tasks, 0], kinds
    if machine == "items":
        indexes = Counter(e["mapIterationStartedEventDetails"]["index"] for e in events
                          if e["type"] == "MapIterationStarted")
        assert indexes == Counter(range(3)) and kinds["MapIterationSucceeded"] == 3, kinds


def stuck(connection: psycopg.Connection) -> str:
    """What the executions still running wait for: their lease, timers, tasks and inbox."""
    lines = []
    for arn, owner, expires, fence, checkpoint in connection.execute(
            "SELECT arn, lease_owner, lease_expires::text, fence, checkpoint FROM executions WHERE status = 'RUNNING' "
            "ORDER BY seq LIMIT 5").fetchall():
        threads = [(t["key"], t["state"], t.get("waiting"), t["token"]) for t in json.loads(checkpoint or "{}").get(
            "threads", [])]
        timers = connection.execute("SELECT thread, kind, token, due::text, claimed_by, claimed_until::text FROM timers "
                                    "WHERE execution_arn = %s", (arn,)).fetchall()
        tasks = connection.execute("SELECT thread, token, effect, worker FROM tasks WHERE execution_arn = %s",
                                   (arn,)).fetchall()
        signals = connection.execute("SELECT kind, payload FROM signals WHERE execution_arn = %s", (arn,)).fetchall()
        lines.append(f"{arn} lease {owner} until {expires} fence {fence}; threads {threads}; timers {timers}; "
                     f"tasks {[(t[0], t[1], t[3]) for t in tasks]}; signals {signals}")
    return "\n".join(lines)


def test_killed_workers_and_a_crashed_database_lose_and_repeat_nothing(postgres: PrivatePostgres,
                                                                       tmp_path: Path) -> None:
    seed = int(os.environ.get("STEPLINE_CHAOS_SEED", random.randrange(1 << 30)))
    print(f"chaos test seed: {seed}")
    rng = random.Random(seed)
    began = time.monotonic()
    cluster = Cluster(postgres.url, tmp_path)
    try:
        sfn = cluster.client()
        for name, (definition, *_) in MACHINES.items():
            sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
        executions: dict[str, tuple[str, int]] = {}
        pending = [(list(MACHINES)[i % len(MACHINES)], i) for i in range(EXECUTIONS)]
        rng.shuffle(pending)
        shares = [pending[i::4] for i in range(4)]
        starters = [threading.Thread(target=start_all, args=(cluster, share, executions, began + START_SECONDS))
                    for share in shares]
        for starter in starters:
            starter.start()
        kills, chaos_end, crashed = 0, time.monotonic() + CHAOS_SECONDS, False
        while time.monotonic() < chaos_end:
            time.sleep(rng.uniform(0.8, 2.0))
            if not crashed and time.monotonic() > chaos_end - CHAOS_SECONDS / 2:
                postgres.crash()
                time.sleep(rng.uniform(0.5, 2.0))
                postgres.start()
                crashed = True
                continue
            cluster.kill_and_restart(rng.randrange(WORKERS))
            kills += 1
        for starter in starters:
            starter.join()
        assert not any(shares), "StartExecution kept failing"
        print(f"{kills} workers killed; PostgreSQL crashed and restarted once; "
              f"all started after {time.monotonic() - began:.1f} s")
        deadline = time.monotonic() + 40
        with psycopg.connect(postgres.url, autocommit=True) as connection:
            while connection.execute("SELECT count(*) FROM executions WHERE status = 'RUNNING'").fetchone()[0]:
                assert time.monotonic() < deadline, "executions still running 40 s after the chaos:\n" + stuck(connection)
                time.sleep(0.25)
            records = dict(connection.execute("SELECT arn, record::text FROM executions").fetchall())
            histories: dict[str, list[dict]] = defaultdict(list)
            for arn, page in connection.execute("SELECT execution_arn, bodies FROM history "
                                                "ORDER BY execution_arn, first_id"):
                histories[arn] += json.loads(page)
        print(f"all ended after {time.monotonic() - began:.1f} s")
        assert sorted(records) == sorted(executions) and len(executions) == EXECUTIONS
        problems = []
        for arn, (machine, number) in sorted(executions.items()):
            record = json.loads(records[arn])
            try:
                assert record["status"] == "SUCCEEDED", (record["status"], record.get("cause"))
                assert json.loads(record["output"]) == MACHINES[machine][1](number)
                check_history(histories[arn], machine)
            except AssertionError as error:
                problems.append(f"{arn}: {error}")
        assert not problems, f"seed {seed}: {len(problems)} of {len(executions)} executions wrong:\n" + "\n".join(
            problems[:10])
        arn, (machine, _) = next(iter(executions.items()))  # and the API reads the same history
        api_events = cluster.client().get_execution_history(executionArn=arn, maxResults=1000)["events"]
        assert [e["type"] for e in api_events] == [e["type"] for e in histories[arn]]
    finally:
        cluster.stop()
