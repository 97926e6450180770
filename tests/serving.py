"""`stepline serve` as a subprocess, for the end-to-end, callback and crash tests.

    server = StepLine.start(tmp_path / "stepline.db", functions=["callback_functions"])
    sfn = server.client()                  # boto3, endpoint_url set, no retries, no `sync-` host prefix
    server.kill()                          # SIGKILL: a crash
    server = server.restart()              # the same store, options and environment, a new port
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

REGION, ACCOUNT = "us-east-1", "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/stepline-tests"
TESTS = Path(__file__).resolve().parent
AWS_CLI = Path(sys.executable).with_name("aws")


@dataclass
class StepLine:
    """A running `stepline serve` on a free port of 127.0.0.1."""

    process: subprocess.Popen[str]
    url: str
    db: Path
    options: list[str]
    environment: dict[str, str]
    log: Path
    clients: list[Any] = field(default_factory=list)

    @classmethod
    def start(cls, db: Path, *, functions: list[str] = (), options: list[str] = (), environment: dict | None = None,
              log: Path | None = None) -> StepLine:
        """Start a server on the store `db`; `functions` are modules under tests/runtime or tests/api."""
        arguments = [*options]
        for module in functions:
            arguments += ["--functions", module]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(environment or {})}
        env["PYTHONPATH"] = os.pathsep.join([str(TESTS / "runtime"), str(TESTS / "api"), str(TESTS),
                                             env.get("PYTHONPATH", "")])
        return cls._spawn(db, arguments, env, log or db.with_suffix(".log"))

    @classmethod
    def _spawn(cls, db: Path, arguments: list[str], env: dict[str, str], log: Path) -> StepLine:
        command = [sys.executable, "-m", "stepline.cli.main", "serve", "--port", "0", "--db", str(db), *arguments]
        with log.open("a") as errors:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env,
                                       cwd=str(TESTS))
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.2)
            if ready:
                line = process.stdout.readline()
                if line.startswith("stepline: Step Functions API on "):
                    return cls(process, line.split(" on ", 1)[1].strip(), db, arguments, env, log)
            if process.poll() is not None:
                raise AssertionError(f"stepline serve exited with {process.returncode}: {log.read_text()[-3000:]}")
        process.kill()
        raise AssertionError("stepline serve did not announce its address within 30 s")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def client(self, read_timeout: float = 70, **config: Any) -> Any:
        """A boto3 Step Functions client for this server (one attempt per call, as a test wants)."""
        return boto3.client("stepfunctions", endpoint_url=self.url, region_name=REGION, aws_access_key_id="x",
                            aws_secret_access_key="x",
                            config=Config(retries={"total_max_attempts": 1}, inject_host_prefix=False,
                                          read_timeout=read_timeout, **config))

    def cli(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`aws stepfunctions ARGUMENTS` against this server."""
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": REGION,
               "AWS_DISABLE_HOST_PREFIX_INJECTION": "true", "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        result = subprocess.run([str(AWS_CLI), "stepfunctions", *arguments, "--endpoint-url", self.url,
                                 "--region", REGION, "--output", "json"], capture_output=True, text=True, env=env,
                                timeout=60)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process.stdout and self.process.stdout.close()

    def stop(self) -> int:
        """SIGTERM, and the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout and self.process.stdout.close()
        return self.process.returncode

    def restart(self) -> StepLine:
        """A new server on the same store, with the same options and environment."""
        return StepLine._spawn(self.db, self.options, self.environment, self.log)


def finished(sfn: Any, arn: str, timeout: float = 20) -> dict:
    """DescribeExecution once the execution has ended (or the timeout has passed)."""
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


def history(sfn: Any, arn: str) -> list[dict]:
    """An execution's whole history (up to 1,000 events), its ids checked gap-free."""
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    return events


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def stream(url: str, until: str, timeout: float = 10) -> list[tuple[str, Any]]:
    """The (event, data) messages of an event stream, up to the first `until` message."""
    messages: list[tuple[str, Any]] = []
    with urllib.request.urlopen(url, timeout=timeout) as response:
        kind = "message"
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                messages.append((kind, json.loads(line[6:])))
                if kind == until:
                    return messages
    return messages
