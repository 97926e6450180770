"""`make bench-api`: stepline's Step Functions API beside moto's server and MiniStack, measured in the same run.

    python bench/api.py [--peers stepline moto ministack] [--workloads pass1 ...] [--target-s 8]
                        [--out build/bench-api.json] [--peer-bin build/bench-peers/bin]

Each server is started in turn (never two at once: the machine has 2 cores) on 127.0.0.1 and a free port, and
../shared/bench/run.py drives it over boto3 with `--server-pid`, so its CPU per execution is reported:

- stepline: `stepline serve` on a fresh SQLite store in a temporary folder (the durable store, AWS's full history);
- moto: `moto_server -H 127.0.0.1 -p N`, driven with `--moto-execute` so that it runs the definitions;
- MiniStack: `ministack` with BIND_HOST, GATEWAY_PORT, SERVICES=stepfunctions and its extras off.

Every server gets SFN_MOCK_CONFIG=../shared/bench/workloads/mock_config.json (`retry_catch`'s mocked failures).
After the driver, while the server still runs, the wait_short executions are listed to measure how late each
finished after its due time (its start plus the Wait's 1 s). Then one table per workload: each peer's
executions/s and state transitions/s, stepline's ratio to each peer, StartSyncExecution p50/p99, and a note
where a peer cannot run the workload (a missing capability, never counted as a slow result). Everything goes to
build/bench-api.json (with each driver's full report); the peer servers' logs to build/bench-api-logs/.

`sqs_send` (bench/services.py, stepline only) is issue 13's: a Task that calls `sqs:sendMessage` on a local moto
server, beside a plain boto3 loop sending the same messages from the same number of threads, in the same run; it
reports both rates, their ratio, stepline's server CPU per task call and moto's CPU per message in each phase.

`inline_map` (bench/inline_map.py, stepline only) is issue 14's: an inline Map over 1,000 and 2,000 items whose
iterations call a local function (`--functions inline_map`), as a Standard execution on the durable store and as
a StartSyncExecution of an Express state machine (in memory), timed by the server's startDate and stopDate.

moto and MiniStack live in their own virtualenv (build/bench-peers, from bench/peers.txt): MiniStack pins a
botocore that is not stepline's, so they cannot share .venv.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import inline_map
import services

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = next(path for path in (Path(os.environ.get("STEPLINE_SHARED_BENCH", ROOT.parent / "shared" / "bench")),
                                       Path("/work/shared/bench")) if path.exists())
RUN_PY = SHARED_BENCH / "run.py"
MOCK_CONFIG = SHARED_BENCH / "workloads" / "mock_config.json"
PEERS = ["stepline", "moto", "ministack"]
MULTI_STATE = ["pass_chain_100", "choice_loop_1000", "map_1000", "map_1000_c10", "parallel_10"]
SQS_SEND = "sqs_send"  # bench/services.py's workload, not run.py's
INLINE_MAP = "inline_map"  # bench/inline_map.py's workload, not run.py's
WAIT_DUE_S = 1.0  # wait_short's Wait state: "Seconds": 1

# The targets of issue #7, checked against this run's figures.
MOTO_MULTI_STATE_RATIO = 50.0
MOTO_PASS1_RATIO = 5.0
SYNC_P50_MS = 5.0
WAIT_K = 10_000
WAIT_LATE_S = 5.0


def _driver_module() -> Any:
    """run.py as a module, for its workload table (what each workload bills per execution)."""
    spec = importlib.util.spec_from_file_location("sfn_bench_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shared_workloads(workloads: list[str]) -> list[str]:
    """The workloads that ../shared/bench/run.py drives on every peer."""
    return [wl for wl in workloads if wl not in (SQS_SEND, INLINE_MAP)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- servers

def peer_command(name: str, port: int, peer_bin: Path, folder: Path) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start one server on 127.0.0.1:port."""
    env = dict(os.environ, SFN_MOCK_CONFIG=str(MOCK_CONFIG), AWS_DEFAULT_REGION="us-east-1")
    if name == "stepline":
        command = [str(Path(sys.executable).with_name("stepline")), "serve", "--host", "127.0.0.1",
                   "--port", str(port), "--db", str(folder / "stepline.db")]
        env.pop("STEPLINE_DB", None)
        env.pop("WAIT_TIME_SCALE", None)  # real time: wait_short's 1 s is a real second
    elif name == "moto":
        command = [_executable("moto_server", peer_bin), "-H", "127.0.0.1", "-p", str(port)]
    elif name == "ministack":
        command = [_executable("ministack", peer_bin)]
        env.update(BIND_HOST="127.0.0.1", GATEWAY_PORT=str(port), SERVICES="stepfunctions", IOT_MTLS_ENABLED="0",
                   SFTP_ENABLED="0", PERSIST_STATE="0", LOG_LEVEL="WARNING", TMPDIR=str(folder))
    else:
        raise ValueError(name)
    return command, env


def _executable(name: str, peer_bin: Path) -> str:
    path = peer_bin / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (make bench-api installs it into {peer_bin.parent})")
    return found


def peer_version(name: str, peer_bin: Path) -> str | None:
    package = {"stepline": "stepline", "moto": "moto", "ministack": "ministack"}[name]
    python = sys.executable if name == "stepline" else str(peer_bin / "python")
    try:
        out = subprocess.run([python, "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
                             capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    return out.stdout.strip() or None


def wait_ready(process: subprocess.Popen, endpoint: str, log: Path, timeout: float = 90.0) -> None:
    """Until the server answers ListStateMachines; raises if it exits or does not answer in time."""
    deadline = time.monotonic() + timeout
    body = b"{}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{_tail(log)}")
        request = urllib.request.Request(endpoint, data=body, method="POST", headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/states/aws4_request, "
                             "SignedHeaders=host, Signature=0"})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{_tail(log)}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (it was started in a session of its own), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------- wait_short: lateness after the due time

def wait_lateness(endpoint: str) -> list[dict]:
    """For each wait_short machine (one per K), how long after its due time (start + 1 s) each execution finished."""
    import boto3
    from botocore.config import Config

    client = boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(retries={"total_max_attempts": 1}, read_timeout=120))
    rows = []
    for machine in _pages(client.list_state_machines, "stateMachines"):
        name = machine["name"]
        if not name.startswith("bench-wait_short-") or "-k" not in name:
            continue
        k = int(name.rsplit("-k", 1)[1])
        executions = _pages(client.list_executions, "executions", stateMachineArn=machine["stateMachineArn"])
        done = [e for e in executions if e.get("stopDate") is not None and e["status"] == "SUCCEEDED"]
        late = sorted((e["stopDate"] - e["startDate"]).total_seconds() - WAIT_DUE_S for e in done)
        row: dict[str, Any] = {"k": k, "listed": len(executions), "succeeded": len(done)}
        if late:
            starts = [e["startDate"] for e in executions]
            row.update(
                late_p50_s=round(statistics.median(late), 3),
                late_p99_s=round(late[min(len(late) - 1, int(0.99 * (len(late) - 1) + 0.5))], 3),
                late_max_s=round(late[-1], 3),
                # the last one due (the last start + 1 s) to the last one finished
                last_due_to_last_done_s=round((max(e["stopDate"] for e in done) - max(starts)).total_seconds()
                                              - WAIT_DUE_S, 3),
            )
        rows.append(row)
    return sorted(rows, key=lambda r: r["k"])


def _pages(call: Any, key: str, **kwargs: Any) -> list[dict]:
    items, token = [], None
    while True:
        page = call(maxResults=1000, **kwargs, **({"nextToken": token} if token else {}))
        items += page.get(key, [])
        token = page.get("nextToken")
        if not token:
            return items


# ---------------------------------------------------------------- one peer

def run_peer(name: str, args: argparse.Namespace, logs: Path) -> dict:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix=f"bench-api-{name}-") as folder:
        command, env = peer_command(name, port, args.peer_bin, Path(folder))
        log = logs / f"{name}.log"
        print(f"\n##### {name}: {' '.join(command)}  ({endpoint})", flush=True)
        with open(log, "wb") as out:
            process = subprocess.Popen(command, env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_ready(process, endpoint, log)
            report_path = Path(folder) / "report.json"
            driver = [sys.executable, str(RUN_PY), "--endpoint", endpoint, "--server-pid", str(process.pid),
                      "--label", name, "--report", str(report_path), "--target-s", str(args.target_s),
                      "--scale", str(args.scale),
                      "--workloads", *shared_workloads(args.workloads)]
            if name == "moto":
                driver.append("--moto-execute")
            started = time.perf_counter()
            load_before = os.getloadavg()
            code = subprocess.run(driver, stdin=subprocess.DEVNULL).returncode
            wall = time.perf_counter() - started
            if code != 0 or not report_path.exists():
                return {"error": f"run.py exited with {code}", "server_log_tail": _tail(log)}
            report = json.loads(report_path.read_text())
            report["driver_command"] = " ".join(driver[1:]).replace(folder, "$TMP")
            report["server_command"] = " ".join(command).replace(folder, "$TMP")
            report["driver_wall_s"] = round(wall, 1)
            # other work on the machine skews every figure: the 1-minute load average before and after the driver
            report["load_average_1min"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
            if "wait_short" in args.workloads:
                try:
                    report["wait_lateness"] = wait_lateness(endpoint)
                except Exception as error:  # noqa: BLE001 - a peer that cannot list them says so in the report
                    report["wait_lateness_error"] = f"{type(error).__name__}: {error}"[:300]
            if process.poll() is not None:
                report["server_exited"] = process.returncode
            return report
        finally:
            stop(process)


# ---------------------------------------------------------------- summary

def capability_notes(workload: str, result: dict, expected_states: int) -> list[str]:
    """What the peer could not do on this workload (empty when it ran it as specified)."""
    notes = []
    if result.get("error"):
        notes.append(f"error: {result['error'][:120]}")
    if "wait" in result:
        for row in result["wait"]:
            if not row["all_finished"] or row["succeeded"] < row["k"]:
                notes.append(f"K={row['k']}: {row['succeeded']}/{row['k']} succeeded"
                             + ("" if row["all_finished"] else f", not finished within {row['timeout_s']:.0f} s"))
        return notes
    standard = result.get("standard") or {}
    if standard:
        if standard.get("start_errors"):
            notes.append(f"{standard['start_errors']} start errors: {(standard.get('first_error') or '')[:100]}")
        if not standard.get("finished", True):
            notes.append("not finished within the driver's timeout")
        if standard.get("failed_total"):
            notes.append(f"{standard['failed_total']} executions FAILED")
        states = (standard.get("history_sample") or {}).get("states_entered")
        if states is not None and states < expected_states:
            notes.append(f"history records {states} of {expected_states} states entered")
    if result.get("mock_unsupported"):
        notes.append("no SFN mock config (ran the Task unmocked)")
    express = result.get("express") or {}
    if express.get("unsupported_or_error") or express.get("error"):
        text = (express.get("unsupported_or_error") or express["error"]).replace("\n", " ")
        notes.append("no StartSyncExecution: " + text.split(" when calling")[0].replace("An error occurred ", "")[:60])
    return notes


def runnable(notes: list[str]) -> bool:
    """A standard run whose figures count (a missing Express API or short history does not void them)."""
    return not any(n.startswith(("error", "not finished", "K=")) or "start errors" in n or "FAILED" in n
                   for n in notes)


def summarize(reports: dict[str, dict], workloads: list[str], meta: dict) -> dict:
    summary: dict[str, Any] = {}
    for wl in workloads:
        expected = meta[wl]["states_entered"]
        billed = expected + meta[wl].get("retries", 0)
        row: dict[str, Any] = {"states_entered_per_execution": expected, "peers": {}}
        for peer, report in reports.items():
            result = (report.get("results") or {}).get(wl)
            if result is None:
                row["peers"][peer] = {"notes": [report.get("error") or "not run"], "runnable": False}
                continue
            notes = capability_notes(wl, result, expected)
            st, ex, e2e = result.get("standard") or {}, result.get("express") or {}, \
                result.get("standard_e2e_latency") or {}
            entry: dict[str, Any] = {"notes": notes, "runnable": runnable(notes)}
            if "wait" in result:
                entry["wait"] = result["wait"]
                entry["lateness"] = report.get("wait_lateness") or report.get("wait_lateness_error")
            else:
                eps = st.get("executions_per_s")
                entry.update(
                    n=st.get("n"), executions_per_s=eps,
                    # the same work for every peer: the workload's states entered (+ retries) per execution
                    transitions_per_s=round(eps * billed, 1) if eps else None,
                    driver_transitions_per_s=st.get("transitions_per_s"),
                    history_events=(st.get("history_sample") or {}).get("events"),
                    server_cpu_ms_per_exec=st.get("server_cpu_ms_per_exec"),
                    e2e_p50_ms=e2e.get("p50_ms"),
                    sync_executions_per_s=ex.get("sync_executions_per_s"),
                    sync_p50_ms=ex.get("sync_p50_ms"), sync_p99_ms=ex.get("sync_p99_ms"),
                )
            row["peers"][peer] = entry
        ours = row["peers"].get("stepline") or {}
        row["stepline_ratio"] = {}
        for peer, entry in row["peers"].items():
            if peer == "stepline":
                continue
            ratio: dict[str, Any] = {}
            if "wait" not in entry and entry.get("runnable") and ours.get("executions_per_s") \
                    and entry.get("executions_per_s"):
                ratio["executions"] = round(ours["executions_per_s"] / entry["executions_per_s"], 2)
            if entry.get("runnable") and ours.get("server_cpu_ms_per_exec") and entry.get("server_cpu_ms_per_exec"):
                # the engines' own cost, free of the driver's: the peer's server CPU per execution over stepline's
                ratio["server_cpu"] = round(entry["server_cpu_ms_per_exec"] / ours["server_cpu_ms_per_exec"], 2)
            if ours.get("sync_executions_per_s") and entry.get("sync_executions_per_s"):
                ratio["sync_executions"] = round(ours["sync_executions_per_s"] / entry["sync_executions_per_s"], 2)
            if not ratio.get("executions") and "wait" not in entry:
                ratio["executions"] = "cannot run it" if not entry.get("runnable") else None
            row["stepline_ratio"][peer] = ratio
        summary[wl] = row
    return summary


def check_targets(summary: dict) -> list[dict]:
    targets = []

    def add(text: str, met: bool | None, value: Any) -> None:
        targets.append({"target": text, "met": met, "value": value})

    for wl in MULTI_STATE:
        ratio = (summary.get(wl, {}).get("stepline_ratio", {}).get("moto") or {}).get("executions")
        if wl in summary and "moto" in summary[wl]["peers"]:
            met = ratio >= MOTO_MULTI_STATE_RATIO if isinstance(ratio, float) else (
                True if ratio == "cannot run it" else None)
            add(f"{wl}: >= {MOTO_MULTI_STATE_RATIO:g}x moto", met, ratio)
    if "pass1" in summary and "moto" in summary["pass1"]["peers"]:
        ratio = (summary["pass1"]["stepline_ratio"].get("moto") or {}).get("executions")
        add(f"pass1: >= {MOTO_PASS1_RATIO:g}x moto", ratio >= MOTO_PASS1_RATIO if isinstance(ratio, float) else
            (True if ratio == "cannot run it" else None), ratio)
    for wl, row in summary.items():
        if "ministack" not in row["peers"]:
            continue
        if wl == "wait_short":
            ours = _late(row["peers"].get("stepline", {}), WAIT_K)
            theirs = _late(row["peers"]["ministack"], WAIT_K)
            met = None if ours is None else (True if theirs is None else ours <= theirs)
            add("wait_short: ahead of MiniStack (K=10000, latest finish after due time)", met,
                {"stepline_s": ours, "ministack_s": theirs if theirs is not None else "did not finish them all"})
            continue
        ratio = (row["stepline_ratio"].get("ministack") or {}).get("executions")
        add(f"{wl}: ahead of MiniStack", ratio > 1 if isinstance(ratio, float) else
            (True if ratio == "cannot run it" else None), ratio)
    ours = summary.get("pass1", {}).get("peers", {}).get("stepline", {})
    if "pass1" in summary:
        p50 = ours.get("sync_p50_ms")
        add(f"pass1: StartSyncExecution p50 < {SYNC_P50_MS:g} ms", p50 is not None and p50 < SYNC_P50_MS, p50)
    if "wait_short" in summary:
        late = _late(summary["wait_short"]["peers"].get("stepline", {}), WAIT_K)
        add(f"wait_short: {WAIT_K:,} executions finish within {WAIT_LATE_S:g} s of their due time",
            late is not None and late <= WAIT_LATE_S, late)
    return targets


def _late(entry: dict, k: int) -> float | None:
    """The latest finish after the due time among the K executions, if all K succeeded."""
    lateness = entry.get("lateness")
    if not isinstance(lateness, list):
        return None
    for row in lateness:
        if row["k"] == k and row["succeeded"] >= k:
            return row.get("late_max_s")
    return None


# ---------------------------------------------------------------- printing

def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header, *[[_fmt(c) if not isinstance(c, str) else c for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ratio(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}x"
    return value or "-"


def render(summary: dict, targets: list[dict]) -> str:
    out = []
    for wl, row in summary.items():
        if wl == SQS_SEND:
            out.append(services.render(row, _table))
            continue
        if wl == INLINE_MAP:
            out.append(f"\ninline_map  (seconds, best of 3; server startDate to stopDate): {row}")
            continue
        out.append(f"\n{wl}  ({row['states_entered_per_execution']} states entered per execution)")
        if wl == "wait_short":
            rows = []
            for peer, entry in row["peers"].items():
                lateness = {r["k"]: r for r in entry.get("lateness") or [] if isinstance(r, dict)}
                for w in entry.get("wait") or []:
                    late = lateness.get(w["k"], {})
                    rows.append([peer, w["k"], w["start_seconds"], w["starts_per_s"],
                                 w["seconds_to_all_finished"] if w["all_finished"] else "NO",
                                 f"{w['succeeded']}/{w['k']}", late.get("late_p50_s"), late.get("late_max_s"),
                                 w.get("peak_rss_mb"), w.get("server_cpu_s")])
                if not entry.get("wait"):
                    rows.append([peer, "-", "-", "-", "-", "-", "-", "-", "-", "; ".join(entry["notes"])])
            out.append(_table(["peer", "K", "start s", "starts/s", "all done s", "succeeded", "late p50 s",
                               "late max s", "peak RSS MB", "srv CPU s"], rows))
            continue
        rows = []
        for peer, entry in row["peers"].items():
            ratio = row["stepline_ratio"].get(peer, {})
            rows.append([peer, entry.get("n"), entry.get("executions_per_s"), entry.get("transitions_per_s"),
                         entry.get("server_cpu_ms_per_exec"), entry.get("e2e_p50_ms"),
                         entry.get("sync_executions_per_s"), entry.get("sync_p50_ms"), entry.get("sync_p99_ms"),
                         "" if peer == "stepline" else _ratio(ratio.get("executions")),
                         "" if peer == "stepline" else _ratio(ratio.get("server_cpu")),
                         "" if peer == "stepline" else _ratio(ratio.get("sync_executions")),
                         "; ".join(entry.get("notes") or [])[:110]])
        out.append(_table(["peer", "N", "exec/s", "trans/s", "srv ms/exec", "e2e p50 ms", "sync exec/s",
                           "sync p50 ms", "sync p99 ms", "stepline x", "cpu x", "sync x", "capability notes"], rows))
    out.append("\nTargets (issues #7 and #13)")
    out.append(_table(["target", "met", "value"], [
        [t["target"], {True: "yes", False: "NO", None: "?"}[t["met"]], json.dumps(t["value"])] for t in targets]))
    return "\n".join(out)


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    driver = _driver_module()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", nargs="*", default=PEERS, choices=PEERS)
    parser.add_argument("--workloads", nargs="*", default=[*driver.DEFAULT_ORDER, SQS_SEND, INLINE_MAP],
                        choices=[*driver.DEFAULT_ORDER, SQS_SEND, INLINE_MAP])
    parser.add_argument("--target-s", type=float, default=8.0,
                        help="run.py's seconds per timed run and per StartSyncExecution throughput run, the same "
                             "for every peer (default 8)")
    parser.add_argument("--scale", type=float, default=3.0,
                        help="run.py's multiplier of the executions per timed run, the same for every peer "
                             "(default 3: run.py's probe of 20 includes making 8 boto3 clients, so it sizes a "
                             "fast peer's pass1 run at about a second, where the driver's fixed costs weigh)")
    parser.add_argument("--sqs-clients", type=int, default=8,
                        help="sqs_send: client threads of both phases (default 8, run.py's)")
    parser.add_argument("--sqs-queues", type=int, default=100,
                        help="sqs_send: queues per phase, message i to queue i %% Q (default 100: moto's SendMessage "
                             "scans its queue's messages, so a deep queue makes moto the bottleneck)")
    parser.add_argument("--sqs-n", type=int, help="sqs_send: messages per phase (default: sized from a probe of "
                                                  "the direct loop to last about --target-s)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench-api.json")
    parser.add_argument("--peer-bin", type=Path, default=ROOT / "build" / "bench-peers" / "bin",
                        help="where moto_server and ministack are installed (default build/bench-peers/bin)")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    logs = args.out.parent / "bench-api-logs"
    logs.mkdir(exist_ok=True)

    started = time.time()
    reports: dict[str, dict] = {}
    for peer in args.peers if shared_workloads(args.workloads) else []:
        try:
            reports[peer] = run_peer(peer, args, logs)
        except (OSError, RuntimeError) as error:
            reports[peer] = {"error": f"{type(error).__name__}: {error}"[:1000]}
            print(f"{peer}: {reports[peer]['error']}", flush=True)
        reports[peer]["version"] = peer_version(peer, args.peer_bin)

    sqs_send: dict[str, Any] | None = None
    if SQS_SEND in args.workloads and "stepline" not in args.peers:
        print("sqs_send runs with --peers stepline only (its peer is a plain boto3 loop)", flush=True)
    elif SQS_SEND in args.workloads:
        try:
            sqs_send = services.run_sqs_send(
                args, logs, driver_module=driver, wait_ready=wait_ready, stop=stop, free_port=free_port,
                stepline_command=lambda port, folder: peer_command("stepline", port, args.peer_bin, folder))
        except Exception as error:  # noqa: BLE001 - reported with the other workloads' results
            sqs_send = {"error": f"{type(error).__name__}: {error}"[:1000]}
            print(f"sqs_send: {sqs_send['error']}", flush=True)

    mapped: dict[str, Any] | None = None
    if INLINE_MAP in args.workloads and "stepline" in args.peers:
        try:
            mapped = inline_map.served(inline_map.SIZES, 3, lambda port, folder: peer_command(
                "stepline", port, args.peer_bin, folder), free_port(), logs / "inline_map.log", wait_ready, stop)
        except Exception as error:  # noqa: BLE001 - reported with the other workloads' results
            mapped = {"error": f"{type(error).__name__}: {error}"[:1000]}
        print(f"inline_map: {mapped}", flush=True)

    summary = summarize(reports, shared_workloads(args.workloads), driver.WORKLOADS)
    targets = check_targets(summary)
    if sqs_send is not None and "error" not in sqs_send:
        summary[SQS_SEND] = services.summarize(sqs_send)
        targets.append(services.target(summary[SQS_SEND]))
    if mapped is not None:
        summary[INLINE_MAP] = mapped
        targets.append({"target": f"inline_map: durable 2,000 items <= {inline_map.MAX_SIZE_RATIO:g}x 1,000 and "
                                  f"<= {inline_map.MAX_MEMORY_RATIO:g}x in memory (issue 14)",
                        "met": mapped.get("targets_met"),
                        "value": [mapped.get("size_ratio"), mapped.get("memory_ratio")]})
    print("\n" + "=" * 100)
    versions = {peer: reports[peer]["version"] if peer in reports else peer_version(peer, args.peer_bin)
                for peer in args.peers}
    loads = ", ".join(f"{peer} {reports[peer].get('load_average_1min')}" for peer in reports)
    print(f"bench-api: {', '.join(f'{peer} {version}' for peer, version in versions.items())}; {os.cpu_count()} "
          "CPUs. 'stepline x': stepline's executions/s over the peer's; 'cpu x': the peer's server CPU per execution "
          "over stepline's; 'sync x': the same for StartSyncExecution")
    if loads:
        print(f"load average (1 min) before/after each driver, {loads}: above ~2.5 other work shared the 2 cores")
    if sqs_send is not None and "error" in sqs_send:
        print(f"\nsqs_send: {sqs_send['error']}")
    print(render(summary, targets))
    document = {
        "command": "make bench-api  (" + " ".join(["python", "bench/api.py", *(argv or sys.argv[1:])]) + ")",
        "started_at": datetime.fromtimestamp(started).astimezone().isoformat(timespec="seconds"),
        "wall_s": round(time.time() - started, 1),
        "settings": {"target_s": args.target_s, "scale": args.scale, "workloads": args.workloads, "mock_config": str(MOCK_CONFIG)},
        "targets": targets,
        "summary": summary,
        "reports": reports,
        **({SQS_SEND: sqs_send} if sqs_send is not None else {}),
        **({INLINE_MAP: mapped} if mapped is not None else {}),
    }
    args.out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
