"""`make bench-api`'s `sqs_send` workload: a Task that calls `sqs:sendMessage` on a local moto server, beside a
plain boto3 loop sending the same messages with the same concurrency, in the same run (issue 13).

    python bench/api.py --peers stepline --workloads sqs_send [--target-s 8] [--sqs-clients 8] [--sqs-n N]

One moto server (.venv's `moto_server`, 127.0.0.1, a free port) runs through both phases: it is the backend that
both of them call. Each phase sends the same N messages (`{"id": i, "text": ...}`, JSON text) to a queue of its
own, from C client threads, the way ../shared/bench/run.py drives a Standard workload (a fresh pool of C threads,
each making its boto3 client on first use, inside the timing):

1. direct: C threads call `sqs.send_message(QueueUrl, MessageBody)` until N are sent; messages/s.
2. stepline: only now is `stepline serve` started (never two measured servers at once: 2 cores), on a fresh
   SQLite store, with AWS_ENDPOINT_URL at moto and test credentials. A Standard state machine with one Task,
   `arn:aws:states:::sqs:sendMessage` (QueueUrl and MessageBody from the input); C threads call StartExecution
   until N are started, then ListExecutions is polled until none is RUNNING (run.py's Driver); executions/s.

After each phase the queue is read to the end: every id must be there once (`delivered`, `distinct`). The CPU of
stepline's server (its process tree, /proc) and of moto is read before and after each phase: ms per task call
and per message. N is sized from a probe of the direct loop so that the direct phase lasts about --target-s.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ROLE_ARN = "arn:aws:iam::123456789012:role/stepline-bench"
DEFINITION = {
    "Comment": "bench sqs_send: one Task that sends the input's message to the input's queue",
    "StartAt": "Send",
    "States": {"Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                        "Parameters": {"QueueUrl.$": "$.queue", "MessageBody.$": "$.message"}, "End": True}},
}
PROBE = 300  # direct messages that size N (their time includes making the threads' clients)
N_MIN, N_MAX = 500, 50_000
TARGET_RATIO = 0.5  # issue 13: stepline's executions/s at least half the direct loop's messages/s


def message(i: int) -> dict:
    return {"id": i, "text": f"record {i}: the same body for stepline and the direct loop"}


# ---------------------------------------------------------------- moto

def start_moto(port: int, log: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start ({' '.join(command)})") from None
            time.sleep(0.1)


# ---------------------------------------------------------------- the two phases

class Phase:
    """CPU of the servers' process trees and wall time around one phase."""

    def __init__(self, driver: Any, pids: dict[str, int]) -> None:
        self.driver, self.pids = driver, pids

    def __enter__(self) -> Phase:
        self.cpu0 = {name: self.driver.tree_cpu_seconds(pid) for name, pid in self.pids.items()}
        self.own0, self.t0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *_: Any) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.driver_cpu_s = time.process_time() - self.own0
        self.cpu_s = {name: self.driver.tree_cpu_seconds(pid) - self.cpu0[name] for name, pid in self.pids.items()}


def send_direct(endpoint: str, queues: list[str], n: int, clients: int) -> tuple[int, list[str]]:
    """n messages from `clients` threads, each with its own boto3 client (made on first use, as run.py does)."""
    import boto3
    from botocore.config import Config

    config = Config(region_name=REGION, retries={"total_max_attempts": 1, "mode": "standard"},
                    max_pool_connections=max(10, clients * 2), connect_timeout=10, read_timeout=120)
    local = threading.local()
    errors: list[str] = []

    def one(i: int) -> None:
        sqs = getattr(local, "sqs", None)
        if sqs is None:
            sqs = local.sqs = boto3.client("sqs", endpoint_url=endpoint, config=config, **CREDENTIALS)
        try:
            sqs.send_message(QueueUrl=queues[i % len(queues)], MessageBody=json.dumps(message(i)))
        except Exception as error:  # noqa: BLE001 - a benchmark counts every failure
            errors.append(f"{type(error).__name__}: {error}"[:300])

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(n)))
    return n - len(errors), errors


def start_executions(driver: Any, arn: str, queues: list[str], n: int, prefix: str) -> tuple[int, list[str]]:
    """run.py's Driver.start_many, with each execution's own message as its input."""
    errors: list[str] = []
    started = [0]
    lock = threading.Lock()

    def one(i: int) -> None:
        try:
            driver.tclient().start_execution(stateMachineArn=arn, name=f"{prefix}-{i}",
                                             input=json.dumps({"queue": queues[i % len(queues)], "message": message(i)}))
            with lock:
                started[0] += 1
        except Exception as error:  # noqa: BLE001
            errors.append(f"{type(error).__name__}: {error}"[:300])

    with ThreadPoolExecutor(driver.args.clients) as pool:
        list(pool.map(one, range(n)))
    return started[0], errors


def delivered(sqs: Any, queues: list[str], n: int) -> dict:
    """The queues' messages: how many, how many distinct ids among them, whether they are exactly 0..n-1."""
    count, ids = 0, []
    for queue_url in queues:
        count += int(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
                     ["Attributes"]["ApproximateNumberOfMessages"])
        while True:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600)
            messages = batch.get("Messages", [])
            if not messages:
                break
            ids += [json.loads(m["Body"])["id"] for m in messages]
    return {"in_queue": count, "received": len(ids), "distinct": len(set(ids)),
            "exact": sorted(ids) == list(range(n))}


def make_queues(sqs: Any, prefix: str, count: int) -> list[str]:
    return [sqs.create_queue(QueueName=f"{prefix}-{q}")["QueueUrl"] for q in range(count)]


# ---------------------------------------------------------------- the workload

def run_sqs_send(args: argparse.Namespace, logs: Path, *, driver_module: Any, stepline_command: Any,
                 wait_ready: Any, stop: Any, free_port: Any) -> dict:
    """Both phases against one moto server; the report that bench/api.py prints and writes."""
    import boto3

    run_id = uuid.uuid4().hex[:8]
    moto_port = free_port()
    moto_endpoint = f"http://127.0.0.1:{moto_port}"
    print(f"\n##### sqs_send: moto_server -H 127.0.0.1 -p {moto_port}", flush=True)
    moto = start_moto(moto_port, logs / "sqs_send-moto.log")
    report: dict[str, Any] = {"clients": args.sqs_clients, "queues": args.sqs_queues, "moto_endpoint": moto_endpoint,
                              "moto_version": importlib.metadata.version("moto")}
    try:
        sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION, **CREDENTIALS)
        direct_queues = make_queues(sqs, f"bench-direct-{run_id}", args.sqs_queues)
        stepline_queues = make_queues(sqs, f"bench-stepline-{run_id}", args.sqs_queues)
        probe_queues = make_queues(sqs, f"bench-probe-{run_id}", args.sqs_queues)

        # N: the direct loop's probe rate x target seconds
        t0 = time.perf_counter()
        send_direct(moto_endpoint, probe_queues, PROBE, args.sqs_clients)
        probe_rate = PROBE / (time.perf_counter() - t0)
        n = args.sqs_n or int(min(N_MAX, max(N_MIN, probe_rate * args.target_s)))
        report.update(n=n, probe_messages_per_s=round(probe_rate, 1))

        # 1. the direct loop: moto alone
        print(f"== sqs_send direct: {n} messages, {args.sqs_clients} threads", flush=True)
        load0 = os.getloadavg()[0]
        with Phase(driver_module, {"moto": moto.pid}) as phase:
            sent, errors = send_direct(moto_endpoint, direct_queues, n, args.sqs_clients)
        report["direct"] = {
            "sent": sent, "errors": len(errors), "first_error": errors[0] if errors else None,
            "seconds": round(phase.seconds, 3), "messages_per_s": round(sent / phase.seconds, 1),
            "moto_cpu_s": round(phase.cpu_s["moto"], 2),
            "moto_cpu_ms_per_message": round(1000 * phase.cpu_s["moto"] / max(1, sent), 3),
            "driver_cpu_s": round(phase.driver_cpu_s, 2),
            "load_average_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "delivered": delivered(sqs, direct_queues, n),
        }
        print("  " + json.dumps(report["direct"]), flush=True)

        # 2. stepline: its server started only now, calling moto
        report["stepline"] = run_stepline(args, logs, n, stepline_queues, moto, moto_endpoint, sqs,
                                          driver_module=driver_module, stepline_command=stepline_command,
                                          wait_ready=wait_ready, stop=stop, free_port=free_port)
        print("  " + json.dumps(report["stepline"]), flush=True)
    finally:
        stop(moto)
    direct_rate = report["direct"]["messages_per_s"]
    rate = report["stepline"].get("executions_per_s")
    report["ratio"] = round(rate / direct_rate, 3) if rate and direct_rate else None
    return report


def run_stepline(args: argparse.Namespace, logs: Path, n: int, queues: list[str], moto: subprocess.Popen,
                 moto_endpoint: str, sqs: Any, *, driver_module: Any, stepline_command: Any, wait_ready: Any,
                 stop: Any, free_port: Any) -> dict:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-api-sqs-") as folder:
        command, env = stepline_command(port, Path(folder))
        env.update(AWS_ENDPOINT_URL=moto_endpoint, AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_DEFAULT_REGION=REGION,
                   AWS_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
                   AWS_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"])
        log = logs / "sqs_send-stepline.log"
        print(f"== sqs_send stepline: {' '.join(command)}  ({endpoint}, AWS_ENDPOINT_URL={moto_endpoint})",
              flush=True)
        with open(log, "wb") as out:
            server = subprocess.Popen(command, env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_ready(server, endpoint, log)
            driver = driver_module.Driver(argparse.Namespace(
                endpoint=endpoint, clients=args.sqs_clients, read_timeout=120.0, server_pid=server.pid))
            arn = driver.sfn.create_state_machine(name=f"bench-sqs_send-{driver.run_id}", roleArn=ROLE_ARN,
                                                  definition=json.dumps(DEFINITION), type="STANDARD"
                                                  )["stateMachineArn"]
            # one execution first (not counted, its message read back): the server's first call makes its client
            warm = sqs.create_queue(QueueName=f"bench-warm-{driver.run_id}")["QueueUrl"]
            driver.sfn.start_execution(stateMachineArn=arn, name="warm",
                                       input=json.dumps({"queue": warm, "message": message(-1)}))
            if driver.wait_all(arn, 60) is None:
                return {"error": "the warm-up execution did not finish within 60 s"}
            load0 = os.getloadavg()[0]
            with Phase(driver_module, {"stepline": server.pid, "moto": moto.pid}) as phase:
                started, errors = start_executions(driver, arn, queues, n, f"run-{driver.run_id}")
                waited = driver.wait_all(arn, max(300.0, n / 10))
            succeeded = driver.count_status(arn, "SUCCEEDED") - 1
            failed = driver.count_status(arn, "FAILED")
            result: dict[str, Any] = {
                "started": started, "start_errors": len(errors), "first_error": errors[0] if errors else None,
                "finished": waited is not None, "succeeded": succeeded, "failed": failed,
                "seconds": round(phase.seconds, 3),
                "executions_per_s": round(started / phase.seconds, 1) if waited is not None else None,
                "server_cpu_s": round(phase.cpu_s["stepline"], 2),
                "server_cpu_ms_per_task": round(1000 * phase.cpu_s["stepline"] / max(1, started), 3),
                "moto_cpu_s": round(phase.cpu_s["moto"], 2),
                "moto_cpu_ms_per_message": round(1000 * phase.cpu_s["moto"] / max(1, started), 3),
                "driver_cpu_s": round(phase.driver_cpu_s, 2),
                "load_average_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
                "server_command": " ".join(command).replace(folder, "$TMP"),
            }
            if failed:
                failures = driver.sfn.list_executions(stateMachineArn=arn, statusFilter="FAILED", maxResults=1)
                result["first_failure"] = str(driver.sfn.describe_execution(
                    executionArn=failures["executions"][0]["executionArn"]).get("cause"))[:300]
            result["history_sample"] = driver.history_stats(
                driver.sfn.list_executions(stateMachineArn=arn, maxResults=1)["executions"][0]["executionArn"])
            result["delivered"] = delivered(sqs, queues, n)
            if server.poll() is not None:
                result["server_exited"] = server.returncode
            return result
        finally:
            stop(server)


# ---------------------------------------------------------------- summary and table

def summarize(report: dict) -> dict:
    direct, ours = report.get("direct") or {}, report.get("stepline") or {}
    notes = []
    for name, phase in (("direct", direct), ("stepline", ours)):
        if phase.get("error"):
            notes.append(f"{name}: {phase['error']}")
        got = phase.get("delivered") or {}
        if got and not got.get("exact"):
            notes.append(f"{name}: {got.get('distinct')} distinct of {report.get('n')} messages in the queue")
        for key in ("errors", "start_errors", "failed"):
            if phase.get(key):
                notes.append(f"{name}: {phase[key]} {key.replace('_', ' ')}: "
                             f"{(phase.get('first_error') or phase.get('first_failure') or '')[:100]}")
    return {"n": report.get("n"), "clients": report.get("clients"),
            "direct_messages_per_s": direct.get("messages_per_s"),
            "stepline_executions_per_s": ours.get("executions_per_s"), "ratio": report.get("ratio"),
            "stepline_server_cpu_ms_per_task": ours.get("server_cpu_ms_per_task"),
            "moto_cpu_ms_per_message": {"direct": direct.get("moto_cpu_ms_per_message"),
                                        "stepline": ours.get("moto_cpu_ms_per_message")},
            "driver_cpu_s": {"direct": direct.get("driver_cpu_s"), "stepline": ours.get("driver_cpu_s")},
            "load_average_1min": {"direct": direct.get("load_average_1min"),
                                  "stepline": ours.get("load_average_1min")},
            "delivered": {"direct": (direct.get("delivered") or {}).get("distinct"),
                          "stepline": (ours.get("delivered") or {}).get("distinct")},
            "notes": notes}


def render(summary: dict, table: Any) -> str:
    rows = [["direct boto3 loop", summary["n"], summary["direct_messages_per_s"], "-",
             summary["moto_cpu_ms_per_message"]["direct"], summary["driver_cpu_s"]["direct"],
             summary["delivered"]["direct"], _load(summary["load_average_1min"]["direct"]), ""],
            ["stepline", summary["n"], summary["stepline_executions_per_s"],
             summary["stepline_server_cpu_ms_per_task"], summary["moto_cpu_ms_per_message"]["stepline"],
             summary["driver_cpu_s"]["stepline"], summary["delivered"]["stepline"],
             _load(summary["load_average_1min"]["stepline"]),
             f"{summary['ratio']:.2f}x direct" if summary["ratio"] else "-"]]
    return (f"\nsqs_send  (a Task calling sqs:sendMessage on moto, {summary['clients']} client threads)\n"
            + table(["", "N", "msgs|exec/s", "srv ms/task", "moto ms/msg", "driver CPU s", "delivered", "load 1 min", "ratio"],
                    rows)
            + "".join(f"\n  note: {note}" for note in summary["notes"]))


def _load(pair: list[float] | None) -> str:
    return "-" if not pair else f"{pair[0]:.1f}-{pair[1]:.1f}"


def target(summary: dict) -> dict:
    ratio = summary.get("ratio")
    return {"target": f"sqs_send: stepline >= {TARGET_RATIO:g}x the direct boto3 loop (issue 13)",
            "met": None if ratio is None else ratio >= TARGET_RATIO and not summary["notes"], "value": ratio}
